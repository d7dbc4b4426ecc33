/// Everything the HTTP endpoint reports, read at one moment: the listeners' counters (loaded
/// from their atomics), the last reload, the process and the event loops. `/metrics` and
/// `/status.json` are two renderings of one snapshot.
public struct DaemonSnapshot: Sendable, Equatable {
    public var version: String
    /// Seconds since the epoch.
    public var startTime: Double
    public var process: ProcessStats?
    public var listeners: [ListenerSnapshot]
    public var reloads: ReloadFacts
    public var loopLateness: HistogramSnapshot
    /// Nil: ready. Else the one-line reason `/-/ready` answers 503 with.
    public var notReadyReason: String?
    /// Nil: healthy. Else why `/-/healthy` answers 503.
    public var unhealthyReason: String?
    /// The STATUS= line, for people reading /status.json.
    public var statusLine: String

    public init(version: String, startTime: Double, process: ProcessStats?, listeners: [ListenerSnapshot], reloads: ReloadFacts,
                loopLateness: HistogramSnapshot, notReadyReason: String?, unhealthyReason: String?, statusLine: String) {
        self.version = version
        self.startTime = startTime
        self.process = process
        self.listeners = listeners
        self.reloads = reloads
        self.loopLateness = loopLateness
        self.notReadyReason = notReadyReason
        self.unhealthyReason = unhealthyReason
        self.statusLine = statusLine
    }
}

public struct ListenerSnapshot: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case up
        /// Configured but not running (it failed to start on a reload), with the error.
        case down(String)
    }

    public var name: String
    public var kind: ListenerKindTag
    /// Where it serves (for an announcer: where it sends).
    public var address: String
    public var state: State
    public var openConnections: Int
    /// Indexed by `Counter.rawValue`.
    public var counters: [Int]
    /// Multicast announcers only.
    public var announcementLateness: HistogramSnapshot?
    /// Broadcast rebroadcasters only: each target's counters, and whether it is skipped now.
    public var relayTargets: [RelayTargetTable.Snapshot] = []

    public init(name: String, kind: ListenerKindTag, address: String, state: State, openConnections: Int = 0,
                counters: [Int] = [Int](repeating: 0, count: Counter.allCases.count), announcementLateness: HistogramSnapshot? = nil) {
        self.name = name
        self.kind = kind
        self.address = address
        self.state = state
        self.openConnections = openConnections
        self.counters = counters
        self.announcementLateness = announcementLateness
    }

    public func value(_ c: Counter) -> Int { counters[c.rawValue] }

    public var isUp: Bool { state == .up }
}

/// What reloads have done since start.
public struct ReloadFacts: Sendable, Equatable {
    public var succeeded = 0
    public var failed = 0
    /// True at start (the configuration in use loaded), then the last reload's result.
    public var lastSuccessful = true
    /// Seconds since the epoch of the start, then of the last reload.
    public var lastTimestamp: Double
    /// "reload 2 ok (1 added, ...)", nil before the first reload.
    public var lastSummary: String?

    public init(lastTimestamp: Double) {
        self.lastTimestamp = lastTimestamp
    }
}
