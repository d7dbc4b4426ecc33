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
    /// Where each listener is in the file, for the locations of warnings (empty when the
    /// configuration was not read from a file).
    public var sources = ListenerSources()
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

/// One listener: its name (unique in the file) and its kind's spec.
public struct ListenerSpec: Sendable, Equatable {
    public var name: String
    /// The kind's decoded configuration (`TCPEchoSpec`, ...); `kindSpec(as:)` reads it as its type.
    public var kindSpec: any KindSpec

    public init(name: String, kindSpec: any KindSpec) {
        self.name = name
        self.kindSpec = kindSpec
    }

    public static func == (a: ListenerSpec, b: ListenerSpec) -> Bool {
        a.name == b.name && a.kindSpec.isEqual(to: b.kindSpec)
    }

    /// The spec as the kind's own type; nil for a listener of another kind.
    public func kindSpec<S: KindSpec>(as type: S.Type) -> S? {
        kindSpec as? S
    }

    /// The word used in the config's "kind" key and in log lines.
    public var kindName: String { type(of: kindSpec).kindName }

    /// What the listener binds, for log lines and conflict checks (nil: it only sends).
    public var boundEndpoint: Endpoint? {
        if case .binds(let e, _, _) = kindSpec.address { return e }
        return nil
    }

    public var usesTCP: Bool {
        if case .binds(_, .tcp, _) = kindSpec.address { return true }
        return false
    }

    var reusePort: Bool {
        if case .binds(_, _, let reusePort) = kindSpec.address { return reusePort }
        return false
    }

    /// "tcp-echo \"echo\" on 127.0.0.1:2000": how messages name a listener.
    public var label: String {
        if let e = boundEndpoint { return "\(kindName) \"\(name)\" on \(e)" }
        if case .sends(let d) = kindSpec.address { return "\(kindName) \"\(name)\" to \(d)" }
        return "\(kindName) \"\(name)\""
    }
}

/// Defaults of the limits the datagram listeners share.
public enum RelayLimits {
    /// Replies (rebroadcasts) per second across all sources: ten sources at the per-source
    /// default, about 2 MB/s at the default maxDatagramSize, whatever number of forged sources.
    public static let totalRateLimit: Double = 1000

    /// The default burst of a rate limit: twice the rate (at least 1).
    public static func burst(for rate: Double) -> Int { max(1, Int(rate * 2)) }

    /// The warning when the total limit is below what one source may have.
    static func warnTotalBelowPerSource(total: Double, perSource: Double, what: String, _ w: inout ListenerWarnings) {
        guard total > 0, perSource > 0, total < perSource else { return }
        w.warn("totalRateLimit", "totalRateLimit (\(formatSeconds(total)) \(what)/s across all sources) is below what one source may have (rateLimit \(formatSeconds(perSource))), so a single client can use up the whole listener's budget; raise totalRateLimit, or lower rateLimit")
    }
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
