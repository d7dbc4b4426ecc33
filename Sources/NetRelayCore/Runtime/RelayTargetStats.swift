import Atomics
import NIOConcurrencyHelpers

/// Per-target counters of a broadcast-rebroadcaster: what went to each target, what failed,
/// and which targets are skipped now (an interface that is down or has no IPv4 address).
/// Entries are kept by their label across reloads, so a target that goes away and comes back
/// keeps counting from where it was. The handler adds from its event loop (relaxed atomics);
/// STATUS, SIGUSR1 and the metrics read `snapshot()`.
public final class RelayTargetTable: Sendable {
    public final class Entry: Sendable {
        /// How the target reads in summaries and metric labels: "eth1" or "10.0.2.255:2002".
        public let label: String
        let sentCount = ManagedAtomic<Int>(0)
        let errorCount = ManagedAtomic<Int>(0)

        init(label: String) { self.label = label }

        @inline(__always) func addSent(_ n: Int) { sentCount.wrappingIncrement(by: n, ordering: .relaxed) }
        @inline(__always) func addError(_ n: Int) { errorCount.wrappingIncrement(by: n, ordering: .relaxed) }
        public var sent: Int { sentCount.load(ordering: .relaxed) }
        public var errors: Int { errorCount.load(ordering: .relaxed) }
    }

    /// One target as STATUS and the metrics see it.
    public struct Snapshot: Sendable, Equatable {
        public var label: String
        /// Where it goes now ("10.0.2.255:2002"); nil while skipped.
        public var destination: String?
        public var sent: Int
        public var errors: Int
        /// Why the target is skipped now; nil while it is served.
        public var skipped: String?
    }

    private struct Row {
        var entry: Entry
        var destination: String?
        var skipped: String?
    }

    private let rows = NIOLockedValueBox<[Row]>([])

    public init() {}

    /// Sets the targets in configuration order (start and reload); returns each served
    /// target's entry in the order given, reusing the entries of labels seen before.
    @discardableResult
    func set(_ targets: [(label: String, destination: String?, skipped: String?)]) -> [Entry] {
        rows.withLockedValue { rows in
            var old: [String: Entry] = [:]
            for r in rows { old[r.entry.label] = r.entry }
            rows = targets.map { Row(entry: old[$0.label] ?? Entry(label: $0.label), destination: $0.destination, skipped: $0.skipped) }
            return rows.map(\.entry)
        }
    }

    public func snapshot() -> [Snapshot] {
        rows.withLockedValue { rows in
            rows.map { Snapshot(label: $0.entry.label, destination: $0.destination, sent: $0.entry.sent, errors: $0.entry.errors, skipped: $0.skipped) }
        }
    }

    public var isEmpty: Bool { rows.withLockedValue { $0.isEmpty } }

    /// "targets: eth1 (10.0.2.255:2002) sent=3 errors=0, eth2 skipped (interface "eth2" is down)".
    public func summary() -> String {
        "targets: " + snapshot().map { s in
            if let why = s.skipped { return "\(s.label) skipped (\(why)), sent=\(s.sent) errors=\(s.errors)" }
            let to = s.destination.map { $0 == s.label ? "" : " (\($0))" } ?? ""
            return "\(s.label)\(to) sent=\(s.sent) errors=\(s.errors)"
        }.joined(separator: ", ")
    }

    /// Only the skipped ones, for STATUS: "eth2 (interface "eth2" is down)".
    public var skippedSummary: [String] {
        snapshot().compactMap { s in s.skipped.map { "\(s.label) (\($0))" } }
    }
}
