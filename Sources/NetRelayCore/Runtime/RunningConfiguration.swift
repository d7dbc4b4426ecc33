import NetRelayConfig

/// What the daemon runs with now: the supervisor's own state, set from the configuration at
/// start and changed only by `Supervisor.reload`. The daemon reads it (the HTTP endpoint, the
/// shutdown timeout, the STATUS= interval); nothing writes it from outside.
public struct RunningConfiguration: Sendable, Equatable {
    /// Read at start only: a reload that changes it gets a note, not a new event loop group.
    public let eventLoopThreads: Int
    public private(set) var shutdownTimeout: Double
    public private(set) var statusInterval: Double
    public private(set) var logLevel: LogLevelSetting
    public private(set) var memoryBudget: Int
    public private(set) var http: HTTPEndpointSpec?
    /// The specs of the listeners that run: those of the configuration, except where a reload
    /// kept a listener's previous spec (its new one failed to start) or left it down.
    public internal(set) var listeners: [ListenerSpec]

    public init(_ configuration: Configuration) {
        eventLoopThreads = configuration.eventLoopThreads
        shutdownTimeout = configuration.shutdownTimeout
        statusInterval = configuration.statusInterval
        logLevel = configuration.logLevel
        memoryBudget = configuration.memoryBudget
        http = configuration.http
        listeners = configuration.listeners
    }

    /// Takes the daemon-wide keys of `new` that a reload applies; the listeners follow once the plan has run.
    mutating func adoptDaemonKeys(of new: Configuration) {
        shutdownTimeout = new.shutdownTimeout
        statusInterval = new.statusInterval
        logLevel = new.logLevel
        memoryBudget = new.memoryBudget
        http = new.http
    }

    /// The note a reload reports when `eventLoopThreads` changed, else nil.
    func eventLoopThreadsNote(for new: Configuration) -> String? {
        guard new.eventLoopThreads != eventLoopThreads else { return nil }
        return "eventLoopThreads \(new.eventLoopThreads) takes effect at the next restart (running with \(eventLoopThreads))"
    }
}
