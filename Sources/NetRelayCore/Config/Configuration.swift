/// The whole daemon configuration, as read from the JSON file. Durations are seconds
/// (numbers, fractions allowed); sizes are bytes (integers). `docs/configuration.md`
/// documents every key; keep the two in step.
public struct Configuration: Sendable, Equatable {
    /// Threads in the shared NIO event loop group (each one epoll loop). Read at start only.
    public var eventLoopThreads: Int = 1
    /// How long SIGTERM (or a restart on reload) waits for in-flight echoes to finish.
    public var shutdownTimeout: Double = 10
    /// How often STATUS= is refreshed while counters change.
    public var statusInterval: Double = 2
    /// Log level unless `--log-level` overrides it.
    public var logLevel: LogLevelSetting = .info
    public var listeners: [ListenerSpec] = []
    /// Bytes the daemon may hold in user space on behalf of peers, all listeners together: echo
    /// queued for peers that do not read (beyond what the kernel's send buffer took). Over it,
    /// reading pauses and the connections holding the most are closed first. See `MemoryBudget`.
    public var memoryBudget: Int = Configuration.defaultMemoryBudget
    /// 64 MiB: eight peers at the 8 MiB per-connection cap, or 1,000 non-reading peers with 64 KiB
    /// each; small next to the kernel memory those peers pin, and well above what honest echo
    /// traffic queues (under the write high-water mark, 64 KiB, per connection while the peer
    /// reads, which is not counted).
    public static let defaultMemoryBudget = 64 << 20
    /// The built-in HTTP endpoint (metrics, health, status); nil: off.
    public var http: HTTPEndpointSpec?

    public init(listeners: [ListenerSpec] = []) {
        self.listeners = listeners
    }
}

public enum LogLevelSetting: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

/// One listener; `name` is unique in the file.
public struct ListenerSpec: Sendable, Equatable {
    public var name: String
    public var kind: Kind

    public enum Kind: Sendable, Equatable {
        case tcpEcho(TCPEchoSpec)
        case udpResponder(UDPResponderSpec)
        case broadcastRebroadcaster(BroadcastSpec)
        case multicastAnnouncer(MulticastSpec)
    }

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }

    /// The word used in the config's "kind" key and in log lines.
    public var kindName: String {
        switch kind {
        case .tcpEcho: return ListenerKindName.tcpEcho
        case .udpResponder: return ListenerKindName.udpResponder
        case .broadcastRebroadcaster: return ListenerKindName.broadcastRebroadcaster
        case .multicastAnnouncer: return ListenerKindName.multicastAnnouncer
        }
    }

    /// What the listener binds, for log lines and conflict checks (nil: it only sends).
    public var boundEndpoint: Endpoint? {
        switch kind {
        case .tcpEcho(let s): return s.listen
        case .udpResponder(let s): return s.listen
        case .broadcastRebroadcaster(let s): return s.listen
        case .multicastAnnouncer: return nil
        }
    }

    public var usesTCP: Bool {
        if case .tcpEcho = kind { return true }
        return false
    }

    var reusePort: Bool {
        switch kind {
        case .tcpEcho(let s): return s.reusePort
        case .udpResponder(let s): return s.reusePort
        case .broadcastRebroadcaster, .multicastAnnouncer: return false
        }
    }

    /// "tcp-echo \"echo\" on 127.0.0.1:2000": how messages name a listener.
    public var label: String {
        if let e = boundEndpoint { return "\(kindName) \"\(name)\" on \(e)" }
        if case .multicastAnnouncer(let m) = kind { return "\(kindName) \"\(name)\" to \(m.destination)" }
        return "\(kindName) \"\(name)\""
    }
}

public enum ListenerKindName {
    public static let tcpEcho = "tcp-echo"
    public static let udpResponder = "udp-responder"
    public static let broadcastRebroadcaster = "broadcast-rebroadcaster"
    public static let multicastAnnouncer = "multicast-announcer"
    public static let all = [tcpEcho, udpResponder, broadcastRebroadcaster, multicastAnnouncer]
}

/// `tcp-echo`: the classic `net.createServer` echo.
public struct TCPEchoSpec: Sendable, Equatable {
    public var listen: Endpoint
    /// Sent before each chunk echoed back ("Confirm data: " in the classic example); empty: pure RFC 862 echo.
    public var replyPrefix: String = ""
    /// Connections over the limit are accepted and closed at once, as Node does.
    public var maxConnections: Int = 1024
    /// 0: no per-source limit.
    public var maxConnectionsPerSource: Int = 0
    /// After the peer's FIN, echo what is queued and then close (true), or close at once (false).
    public var allowHalfOpen: Bool = false
    /// Seconds without traffic before a connection is closed; 0: never.
    public var idleTimeout: Double = 300
    /// Empty: every source may connect (unless denied).
    public var allow: [CIDRBlock] = []
    /// Checked before `allow`: a denied source is refused even when allowed.
    public var deny: [CIDRBlock] = []
    public var reusePort: Bool = false
    public var backlog: Int = 256
    /// Stop reading from a peer while this many bytes wait to be written to it...
    public var writeBufferHighWaterMark: Int = 64 * 1024
    /// ...and resume once fewer than this many wait.
    public var writeBufferLowWaterMark: Int = 32 * 1024
    /// SO_SNDBUF / SO_RCVBUF for the listening socket, inherited by every accepted connection;
    /// nil: the kernel's autotuning (tcp_wmem / tcp_rmem). A fixed size switches autotuning off.
    public var sendBufferSize: Int?
    public var receiveBufferSize: Int?

    /// The most echo queued beyond the high-water mark for a peer that half-closed without
    /// reading (on a FIN, NIO drains the socket's receive buffer regardless of backpressure);
    /// past it the connection is closed. 8 MiB is above Linux's default maximum receive buffer
    /// (tcp_rmem 6 MiB), so a well-behaved half-closing peer never hits it.
    public var maxQueuedEcho: Int { max(16 * writeBufferHighWaterMark, 8 << 20) }

    public init(listen: Endpoint) {
        self.listen = listen
    }
}

/// `udp-responder`: replies to each datagram's sender (the classic dgram server).
public struct UDPResponderSpec: Sendable, Equatable {
    public var listen: Endpoint
    public var replyPrefix: String = ""
    /// Replies per second per source address; 0 turns the limit off.
    public var rateLimit: Double = 100
    /// Replies a source may get in a burst before the rate applies.
    public var rateLimitBurst: Int = 200
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
    public var totalRateLimitBurst: Int = RelayLimits.totalRateLimitBurst
    /// DSCP value set on replies and dropped on receive (`RelayMark`); 0: neither.
    public var relayMark: Int = RelayMark.defaultValue

    public init(listen: Endpoint) {
        self.listen = listen
    }
}

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
    public var rateLimitBurst: Int = 200
    /// Rebroadcasts per second across all sources; 0: no limit.
    public var totalRateLimit: Double = RelayLimits.totalRateLimit
    public var totalRateLimitBurst: Int = RelayLimits.totalRateLimitBurst
    /// DSCP value set on rebroadcasts and dropped on receive (`RelayMark`); 0: neither.
    public var relayMark: Int = RelayMark.defaultValue

    public init(listen: Endpoint, target: Target) {
        self.listen = listen
        self.target = target
        self.targets = [target]
    }

    public init(listen: Endpoint, targets: [Target]) {
        self.init(listen: listen, target: targets[0])
        self.targets = targets
    }
}

/// `multicast-announcer`: sends the time to a multicast group on a fixed interval.
public struct MulticastSpec: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable {
        /// "11/27/2026, 2:03:04 PM", like Node's `new Date().toLocaleString()` in en-US.
        case locale
        /// "2026-11-27T14:03:04.123Z"
        case iso8601
        /// "1795788184.123"
        case epoch
        /// {"time":"2026-11-27T14:03:04.123Z","seq":42,"host":"web1","listener":"time"}
        case json
    }

    public var group: IPAddress
    public var port: Int
    public var interval: Double = 1
    /// IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS.
    public var ttl: Int = 1
    /// IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP.
    public var loopback: Bool = true
    /// Outgoing interface, by name ("eth0") or by one of its addresses; nil: the routing table decides.
    public var interface: String?
    /// Join the group on the sending socket, as the classic example does.
    public var joinGroup: Bool = false
    public var format: Format = .iso8601

    public init(group: IPAddress, port: Int) {
        self.group = group
        self.port = port
    }

    public var destination: Endpoint { Endpoint(address: group, port: port) }
}

/// Defaults of the limits the datagram listeners share.
public enum RelayLimits {
    /// Replies (rebroadcasts) per second across all sources: ten sources at the per-source
    /// default, about 2 MB/s at the default maxDatagramSize, whatever number of forged sources.
    public static let totalRateLimit: Double = 1000
    public static let totalRateLimitBurst = 2000
}

/// `"http": {"listen": "127.0.0.1:9477"}`: the observability endpoint (`/metrics`, `/-/healthy`,
/// `/-/ready`, `/status.json`). Its limits are fixed, not configured: it is for scrapers and
/// health checks, not for the public.
public struct HTTPEndpointSpec: Sendable, Equatable {
    public var listen: Endpoint

    public init(listen: Endpoint) {
        self.listen = listen
    }
}
