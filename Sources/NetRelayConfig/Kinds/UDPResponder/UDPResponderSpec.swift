/// `udp-responder`: replies to each datagram's sender (the classic dgram server).
public struct UDPResponderSpec: Sendable, Equatable {
    public var listen: Endpoint
    public var replyPrefix: String = ""
    /// Replies per second per source address; 0 turns the limit off.
    public var rateLimit: Double = 100
    /// Replies a source may get in a burst before the rate applies.
    /// By default twice the rate (`RelayLimits.burst(for:)`), set when the spec is made.
    public var rateLimitBurst: Int
    /// Sources tracked by the rate limiter at once; the least recently seen are forgotten.
    public var rateLimitMaxSources: Int = 65536
    /// Larger datagrams are dropped (and counted), never answered.
    public var maxDatagramSize: Int = 2048
    /// Drop datagrams from broadcast, multicast, port 0 and privileged (< 1024) source ports, as
    /// OpenBSD inetd's dg_badinput() does; loopback sources are always answered.
    public var rejectBadSources: Bool = true
    public var reusePort: Bool = false
    /// Datagrams read per system call (recvmmsg).
    public var vectorReadCount: Int = 32
    /// Answer 0-byte datagrams (off by default: a reply to nothing only serves reflection).
    public var replyToEmpty: Bool = false
    /// Replies per second across all sources; 0: no limit. Bounds what forged sources extract.
    public var totalRateLimit: Double = RelayLimits.totalRateLimit
    /// By default twice the total rate, like `rateLimitBurst`.
    public var totalRateLimitBurst: Int
    /// DSCP value set on replies and dropped on receive (`RelayMark`); 0: neither.
    public var relayMark: Int = RelayMark.defaultValue

    public init(listen: Endpoint) {
        self.listen = listen
        rateLimitBurst = RelayLimits.burst(for: rateLimit)
        totalRateLimitBurst = RelayLimits.burst(for: totalRateLimit)
    }
}

extension UDPResponderSpec: KindSpec {
    public static let kindName = "udp-responder"
    public var address: ListenerAddress { .binds(listen, .udp, reusePort: reusePort) }
    /// One socket per event loop (`DatagramSpread`): the kernel spreads sources across them.
    public func footprint(eventLoops: Int) -> ListenerFootprint {
        ListenerFootprint(sockets: max(1, eventLoops), storedSockets: max(1, eventLoops))
    }
    public var relay: RelayPart { .repliesToSender(hears: [RelayEar(listen)]) }

    public func warnings(_ w: inout ListenerWarnings) {
        if rateLimit == 0 && !listen.address.isLoopback {
            w.warn("rateLimit", "rate limiting is off on a non-loopback address; a spoofed source can use this responder to reflect traffic at a victim")
        }
        RelayLimits.warnTotalBelowPerSource(total: totalRateLimit, perSource: rateLimit, what: "replies", &w)
        let sizing = DatagramReceiveSizing(maxDatagramSize: maxDatagramSize, vectorReadCount: vectorReadCount)
        if sizing.lowered {
            w.warn("vectorReadCount", sizing.loweredExplanation)
        }
    }
}
