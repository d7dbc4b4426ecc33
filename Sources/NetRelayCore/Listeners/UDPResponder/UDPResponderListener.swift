import Logging
import NIOCore
import NetRelayConfig

/// A `udp-responder`: a `DatagramListener` whose handler replies to each datagram's sender.
/// Everything but the bind address, SO_REUSEPORT and relayMark can change on reload in place.
typealias UDPResponderListener = DatagramListener<UDPResponderRole>

/// Receive sizing, options, and the responder handler of a udp-responder.
struct UDPResponderRole: DatagramRole {
    init(stats: ListenerStats) {}

    static func listen(_ spec: UDPResponderSpec) -> Endpoint { spec.listen }

    static func socketOptions(_ udp: UDPResponderSpec) -> DatagramSocket.Options {
        .init(listen: udp.listen, reusePort: udp.reusePort, broadcast: false, sizing: sizing(udp), relayMark: udp.relayMark)
    }

    static func sizing(_ udp: UDPResponderSpec) -> DatagramReceiveSizing {
        DatagramReceiveSizing(maxDatagramSize: udp.maxDatagramSize, vectorReadCount: udp.vectorReadCount)
    }

    /// The host's broadcast addresses are read now: `rejectBadSources` does not answer them.
    func setup(for udp: UDPResponderSpec, _ erased: ListenerSpec, commit: Bool) -> UDPResponderSetup {
        UDPResponderSetup(udp, broadcastAddresses: InterfaceAddresses.broadcastAddresses(InterfaceAddresses.current()))
    }

    static func makeHandler(_ setup: UDPResponderSetup, stats: ListenerStats, logger: Logger, sender: DatagramSender?) -> UDPResponderHandler {
        UDPResponderHandler(setup: setup, stats: stats, logger: logger, sender: sender)
    }

    static func apply(_ setup: UDPResponderSetup, to handler: UDPResponderHandler) { handler.apply(setup) }
    static func lastSendError(of handler: UDPResponderHandler) -> String? { handler.lastSendError }

    func canUpdate(from old: UDPResponderSpec, to new: UDPResponderSpec) -> Bool {
        new.listen == old.listen && new.reusePort == old.reusePort && new.relayMark == old.relayMark
    }

    static let keptOnFailedUpdate = "keeping its previous setup"

    func extras(_ spec: ListenerSpec) -> ListenerExtras { .none }

    /// Nothing to say beyond the start and update lines.
    func report(_ setup: UDPResponderSetup, previous: UDPResponderSetup?, _ erased: ListenerSpec, _ logger: Logger) {}
    func revalidated(from old: UDPResponderSetup?, to new: UDPResponderSetup, _ spec: UDPResponderSpec, _ erased: ListenerSpec, _ logger: Logger) {}

    /// The host's broadcast addresses are read again on reload only.
    static let refreshInterval: Duration? = nil
    func refresh(_ spec: UDPResponderSpec) -> (inout UDPResponderSetup) -> Bool { { _ in false } }

    static func share(_ setup: UDPResponderSetup, index: Int, of count: Int) -> UDPResponderSetup {
        var s = setup
        s.totalShare = .init(sockets: count, listenerRate: setup.limits.total.rate, listenerBurst: setup.limits.total.burst)
        (s.limits.total.rate, s.limits.total.burst) = DatagramSpread.share(rate: setup.limits.total.rate, burst: setup.limits.total.burst, index: index, count: count)
        return s
    }

    /// A reload that kept the spec: the host's broadcast addresses may have changed.
    func differ(_ old: UDPResponderSetup?, _ new: UDPResponderSetup) -> Bool {
        old?.sourceCheck.broadcastAddresses != new.sourceCheck.broadcastAddresses
    }

    static func line(_ udp: UDPResponderSpec, _ setup: UDPResponderSetup) -> ServingLine {
        ServingLine(details: describe(udp, sizing: sizing(udp)))
    }

    static func describe(_ udp: UDPResponderSpec, sizing: DatagramReceiveSizing) -> String {
        var parts: [String] = []
        if !udp.replyPrefix.isEmpty { parts.append("replyPrefix \(JSONString.quote(udp.replyPrefix))") }
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
}
