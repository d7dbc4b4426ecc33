import NetRelayConfig

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
    /// Whether accept() is backing off because no file descriptor is free.
    public var atFdLimit = false
    /// Indexed by `Counter.rawValue`.
    public var counters: [Int]
    /// What its kind exports besides the counters.
    public var extras: ListenerExtras

    public init(name: String, kind: ListenerKindTag, address: String, state: State, openConnections: Int = 0,
                counters: [Int] = [Int](repeating: 0, count: Counter.allCases.count), extras: ListenerExtras = .none) {
        self.name = name
        self.kind = kind
        self.address = address
        self.state = state
        self.openConnections = openConnections
        self.counters = counters
        self.extras = extras
    }

    public func value(_ c: Counter) -> Int { counters[c.rawValue] }

    public var isUp: Bool { state == .up }

    /// Datagrams it did not answer or send on, for every reason: the sum of its
    /// `netrelayd_datagrams_dropped_total` series (send errors included). The one figure
    /// STATUS=, `/status.json`, `netrelayctl status` and SIGUSR1 call "dropped".
    public var dropped: Int {
        let counted = kind.counters.filter { $0.metric.family == .datagramsDropped }.reduce(0) { $0 + value($1) }
        return extras.samples.reduce(counted) { sum, sample in
            guard sample.family.name == MetricFamily.datagramsDropped.rawValue, case .count(let n) = sample.value else { return sum }
            return sum + n
        }
    }

    /// "accepted=12, bytes in=3400, ..." for the counters that are not zero, the dropped total
    /// and what the kind adds: SIGUSR1's line.
    public var summary: String {
        var parts: [String] = []
        if openConnections > 0 { parts.append("open connections=\(openConnections)") }
        // The total first, then its reasons.
        var total = dropped > 0 ? "dropped=\(dropped)" : nil
        for c in Counter.allCases where value(c) != 0 {
            if let t = total, c.metric.family == .datagramsDropped {
                parts.append(t)
                total = nil
            }
            parts.append("\(c.label)=\(value(c))")
        }
        if let total { parts.append(total) }
        parts += extras.statistics
        return parts.isEmpty ? "no traffic yet" : parts.joined(separator: ", ")
    }
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
