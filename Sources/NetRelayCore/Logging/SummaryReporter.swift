import Logging
import NIOCore
import NetRelayConfig

/// Logs repeated events (refused connections, dropped datagrams) without a line per event:
/// the first one after a quiet spell at once, then one summary line per window while they
/// continue. Bounded: it keeps a count per reason, never a list. Use it on one event loop.
final class SummaryReporter {
    private let logger: Logger
    private let event: String
    private let what: String
    private let window: TimeAmount
    private var windowOpen = false
    private var pending: [Counter: Int] = [:]
    private var lastPeer = ""
    /// Kept unformatted on the datagram path: formatting an address per dropped datagram would
    /// cost more than the drop itself.
    private var lastAddress: SocketAddress?

    init(logger: Logger, event: String, what: String, window: TimeAmount = .seconds(10)) {
        self.logger = logger
        self.event = event
        self.what = what
        self.window = window
    }

    /// `firstLine` is only evaluated when a line is logged.
    func note(_ reason: Counter, peer: String, eventLoop: EventLoop, firstLine: () -> String) {
        if windowOpen {
            pending[reason, default: 0] += 1
            lastPeer = peer
            lastAddress = nil
            return
        }
        windowOpen = true
        logger.notice(
            "\(firstLine())",
            metadata: ["event": .string(event), "peer": .string(peer), "reason": .string(reason.label)]
        )
        scheduleFlush(eventLoop)
    }

    /// The same for a datagram's source: the address is only formatted when a line is logged.
    func note(_ reason: Counter, from address: SocketAddress, eventLoop: EventLoop, firstLine: (String) -> String) {
        if windowOpen {
            pending[reason, default: 0] += 1
            lastAddress = address
            return
        }
        let peer = describePeer(address)
        note(reason, peer: peer, eventLoop: eventLoop) { firstLine(peer) }
    }

    private func describePeer(_ address: SocketAddress) -> String {
        Endpoint(address)?.description ?? "\(address)"
    }

    private func scheduleFlush(_ eventLoop: EventLoop) {
        eventLoop.assumeIsolated().scheduleTask(in: window) {
            self.flush(eventLoop)
        }
    }

    private func flush(_ eventLoop: EventLoop) {
        guard !pending.isEmpty else {
            windowOpen = false
            return
        }
        let total = pending.values.reduce(0, +)
        let parts = pending.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.label)" }
        let seconds = window.nanoseconds / 1_000_000_000
        logger.notice(
            "\(total) more \(what) in the last \(seconds) s (\(parts.joined(separator: ", "))); last from \(lastAddress.map(describePeer) ?? lastPeer)",
            metadata: ["event": .string(event), "count": "\(total)"]
        )
        pending.removeAll(keepingCapacity: true)
        scheduleFlush(eventLoop)
    }
}
