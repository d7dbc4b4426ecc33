import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Wires a `udp-responder` spec to a UDP socket: receive sizing, options, and the responder
/// handler. Everything but the bind address and SO_REUSEPORT can change on reload in place.
final class UDPResponderListener: Listener {
    let stats = ListenerStats()
    private let context: ListenerContext
    private let state: NIOLockedValueBox<State>

    private struct State {
        var spec: ListenerSpec
        var settings: UDPResponderSettings
        var handler: NIOLoopBound<UDPResponderHandler>?
        var socket: DatagramSocket?
        var local: String
    }

    init(spec: ListenerSpec, context: ListenerContext) {
        guard let udp = spec.settings(as: UDPResponderSpec.self) else { preconditionFailure("not a udp-responder spec") }
        self.context = context
        self.state = NIOLockedValueBox(State(
            spec: spec,
            settings: UDPResponderSettings(udp, broadcastAddresses: []),
            local: udp.listen.description
        ))
    }

    var spec: ListenerSpec { state.withLockedValue { $0.spec } }
    var localDescription: String { state.withLockedValue { $0.local } }

    /// The handler of the current socket (for tests).
    var handler: NIOLoopBound<UDPResponderHandler>? { state.withLockedValue { $0.handler } }

    /// The current channel (for tests).
    var channel: Channel? { state.withLockedValue { $0.socket?.channel } }

    func start() async throws {
        let spec = self.spec
        guard let udp = spec.settings(as: UDPResponderSpec.self) else { return }
        let logger = context.logger(for: spec)
        let settings = UDPResponderSettings(udp, broadcastAddresses: InterfaceAddresses.broadcastAddresses(InterfaceAddresses.current()))
        let sizing = DatagramReceiveSizing(maxDatagramSize: udp.maxDatagramSize, vectorReadCount: udp.vectorReadCount)
        state.withLockedValue { $0.settings = settings }

        let state = self.state
        let stats = self.stats
        let socket = DatagramSocket(
            spec: spec,
            options: .init(listen: udp.listen, reusePort: udp.reusePort, broadcast: false, sizing: sizing, relayMark: udp.relayMark),
            context: context,
            logger: logger,
            initializer: { channel, senderFD in
                let current = state.withLockedValue { $0.settings }
                let handler = UDPResponderHandler(settings: current, stats: stats, logger: logger, sender: senderFD.map { DatagramSender(fd: $0) })
                try channel.pipeline.syncOperations.addHandler(handler)
                state.withLockedValue { $0.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
            },
            lastSendError: { state.withLockedValue { $0.handler }?.value.lastSendError },
            stats: stats
        )
        let channel = try await socket.start()
        let local = channel.localAddress.flatMap(Endpoint.init)?.description ?? udp.listen.description
        state.withLockedValue {
            $0.socket = socket
            $0.local = local
        }
        logger.info(
            "Listening: \(spec.kindName) \"\(spec.name)\" on \(local) (\(Self.describe(udp, sizing: sizing)))",
            metadata: ["event": "listening", "address": .string(local)]
        )
    }

    static func describe(_ udp: UDPResponderSpec, sizing: DatagramReceiveSizing) -> String {
        var parts: [String] = []
        if !udp.replyPrefix.isEmpty { parts.append("replyPrefix \(JSONNode.quote(udp.replyPrefix))") }
        if udp.rateLimit > 0 {
            parts.append("rateLimit \(formatSeconds(udp.rateLimit))/s per source, burst \(udp.rateLimitBurst), up to \(udp.rateLimitMaxSources) sources")
        } else {
            parts.append("no rateLimit")
        }
        parts.append("maxDatagramSize \(udp.maxDatagramSize)")
        parts.append(udp.rejectBadSources ? "rejectBadSources" : "answers bad sources")
        // Lowered from vectorReadCount when it would make the receive buffers too large (a
        // configuration warning says so).
        parts.append("\(sizing.vectorReadCount) datagram(s) per read")
        if udp.reusePort { parts.append("reusePort") }
        parts.append(udp.totalRateLimit > 0 ? "totalRateLimit \(formatSeconds(udp.totalRateLimit))/s, burst \(udp.totalRateLimitBurst)" : "no totalRateLimit")
        if udp.replyToEmpty { parts.append("replyToEmpty") }
        parts.append(udp.relayMark > 0 ? "relayMark \(udp.relayMark)" : "no relayMark")
        return parts.joined(separator: ", ")
    }

    func canUpdate(to newSpec: ListenerSpec) -> Bool {
        guard let new = newSpec.settings(as: UDPResponderSpec.self), let old = spec.settings(as: UDPResponderSpec.self) else { return false }
        return new.listen == old.listen && new.reusePort == old.reusePort && new.relayMark == old.relayMark
    }

    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async {
        guard let udp = newSpec.settings(as: UDPResponderSpec.self) else { return }
        let logger = context.logger(for: newSpec)
        let settings = UDPResponderSettings(udp, broadcastAddresses: InterfaceAddresses.broadcastAddresses(InterfaceAddresses.current()))
        let sizing = DatagramReceiveSizing(maxDatagramSize: udp.maxDatagramSize, vectorReadCount: udp.vectorReadCount)
        let socket = state.withLockedValue { s -> DatagramSocket? in
            s.spec = newSpec
            s.settings = settings
            return s.socket
        }
        await socket?.update(sizing: sizing)
        await applyToHandler(settings)
        logger.info("Updated \(newSpec.label) in place (\(Self.describe(udp, sizing: sizing)))", metadata: ["event": "updated"])
    }

    /// A reload that kept the spec: the host's broadcast addresses may have changed.
    func revalidate() async throws {
        let broadcast = InterfaceAddresses.broadcastAddresses(InterfaceAddresses.current())
        let settings = state.withLockedValue { s -> UDPResponderSettings? in
            guard s.settings.sourceCheck.broadcastAddresses != broadcast else { return nil }
            s.settings.sourceCheck.broadcastAddresses = broadcast
            return s.settings
        }
        if let settings { await applyToHandler(settings) }
    }

    private func applyToHandler(_ settings: UDPResponderSettings) async {
        guard let handler = state.withLockedValue({ $0.handler }), let channel = state.withLockedValue({ $0.socket?.channel }) else { return }
        _ = try? await channel.eventLoop.submit { handler.value.apply(settings) }.get()
    }

    func stopAccepting() async {
        await state.withLockedValue { $0.socket }?.stop()
    }

    /// Nothing to drain: a reply is sent within the read batch that received its request.
    func drain(gracePeriod: TimeAmount) async {}
}
