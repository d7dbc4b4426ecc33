/// `broadcast-rebroadcaster`: rebroadcasts each datagram, prefixed, to a subnet broadcast address.
public struct BroadcastSpec: Sendable, Equatable {
    public enum Target: Sendable, Equatable, CustomStringConvertible {
        /// A broadcast address and port, e.g. 192.168.56.255:2002.
        case address(Endpoint)
        /// An interface's broadcast address (from getifaddrs, looked up at start and on reload) and a port.
        case interface(name: String, port: Int)
        /// The limited broadcast 255.255.255.255, sent out of this interface (IP_PKTINFO), and a port
        /// (`{"interface": NAME, "port": P, "broadcast": "limited"}` in `targets`).
        case limitedBroadcast(interface: String, port: Int)

        public var port: Int {
            switch self {
            case .address(let e): return e.port
            case .interface(_, let p): return p
            case .limitedBroadcast(_, let p): return p
            }
        }

        public var description: String {
            switch self {
            case .address(let e): return e.description
            case .interface(let n, let p): return "broadcast address of \(n), port \(p)"
            case .limitedBroadcast(let n, let p): return "255.255.255.255 out of \(n), port \(p)"
            }
        }
    }

    public var listen: Endpoint
    /// The first of `targets` (the one target of the `target` / `targetInterface` form).
    public var target: Target
    /// Every target, in file order: `targets`, or `[target]`.
    public var targets: [Target]
    /// Ingress interfaces (by name) whose datagrams are relayed; empty: every interface.
    public var listenInterfaces: [String] = []
    public var prefix: String = ""
    /// Empty: accept datagrams from every source.
    public var sourceAllow: [CIDRBlock] = []
    /// Permit a target port equal to the listen port (the own-packet guard then breaks the loop).
    public var allowLoop: Bool = false
    public var maxDatagramSize: Int = 2048
    /// Rebroadcasts per second per source address; 0 turns the limit off.
    public var rateLimit: Double = 100
    /// By default twice the rate (`RelayLimits.burst(for:)`), set when the spec is made.
    public var rateLimitBurst: Int
    /// Rebroadcasts per second across all sources; 0: no limit.
    public var totalRateLimit: Double = RelayLimits.totalRateLimit
    /// By default twice the total rate, like `rateLimitBurst`.
    public var totalRateLimitBurst: Int
    /// DSCP value set on rebroadcasts and dropped on receive (`RelayMark`); 0: neither.
    public var relayMark: Int = RelayMark.defaultValue

    public init(listen: Endpoint, target: Target) {
        self.listen = listen
        self.target = target
        self.targets = [target]
        rateLimitBurst = RelayLimits.burst(for: rateLimit)
        totalRateLimitBurst = RelayLimits.burst(for: totalRateLimit)
    }

    public init(listen: Endpoint, targets: [Target]) {
        self.init(listen: listen, target: targets[0])
        self.targets = targets
    }
}

extension BroadcastSpec: KindSpec {
    public static let kindName = "broadcast-rebroadcaster"
    public var address: ListenerAddress { .binds(listen, .udp, reusePort: false) }
    /// One socket whatever `eventLoopThreads` says. The kernel hands every broadcast (and
    /// multicast) datagram to every socket of a SO_REUSEPORT group, not to one by hash (only
    /// unicast is spread): N sockets would rebroadcast each broadcast N times, or, with all
    /// but one dropping broadcasts, wake N loops to do the work of one. A rebroadcaster's
    /// traffic is broadcasts, so more sockets would cost more than they spread.
    public func footprint(eventLoops: Int) -> ListenerFootprint {
        ListenerFootprint(sockets: 1, storedSockets: 1)
    }

    public func warnings(_ w: inout ListenerWarnings) {
        if rateLimit == 0 {
            w.warn("rateLimit", "rate limiting is off: one source, or a loop through a relay that does not drop our relay mark, can make this rebroadcaster send as fast as it can; set a rate such as 100 (rebroadcasts per second per source)")
        }
        RelayLimits.warnTotalBelowPerSource(total: totalRateLimit, perSource: rateLimit, what: "rebroadcasts", &w)
    }
}
