import NIOConcurrencyHelpers
import NetRelayConfig

/// Per-target counters of a broadcast-rebroadcaster: what went to each target, what failed,
/// and which targets are skipped now (an interface that is down or has no IPv4 address).
/// Entries are kept by their label across reloads, so a target that goes away and comes back
/// keeps counting from where it was. The handler adds from its event loop (relaxed atomics);
/// STATUS, SIGUSR1 and the metrics read `snapshot()`.
public final class RelayTargetTable: Sendable {
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
        var entry: DestinationCounter
        var destination: String?
        var skipped: String?
    }

    private let rows = NIOLockedValueBox<[Row]>([])

    public init() {}

    /// Sets the targets in configuration order (start and reload); returns each served
    /// target's entry in the order given, reusing the entries of labels seen before.
    @discardableResult
    func set(_ targets: [(label: String, destination: String?, skipped: String?)]) -> [DestinationCounter] {
        rows.withLockedValue { rows in
            var old: [String: DestinationCounter] = [:]
            for r in rows { old[r.entry.label] = r.entry }
            rows = targets.map { Row(entry: old[$0.label] ?? DestinationCounter(label: $0.label), destination: $0.destination, skipped: $0.skipped) }
            return rows.map(\.entry)
        }
    }

    public func snapshot() -> [Snapshot] {
        rows.withLockedValue { rows in
            rows.map { Snapshot(label: $0.entry.label, destination: $0.destination, sent: $0.entry.sent, errors: $0.entry.errors, skipped: $0.skipped) }
        }
    }

    public var isEmpty: Bool { rows.withLockedValue { $0.isEmpty } }

    // MARK: What a rebroadcaster exports of its targets

    static let upFamily = ExtraFamily(name: "netrelayd_relay_target_up", kind: .gauge, help: "1 while a rebroadcaster's target is served, 0 while it is skipped (interface missing, down or without IPv4).", labels: ["target"])
    static let sentFamily = ExtraFamily(name: "netrelayd_relay_target_sent_total", kind: .counter, help: "Datagrams a rebroadcaster sent to each target.", labels: ["target"])
    static let errorsFamily = ExtraFamily(name: "netrelayd_relay_target_errors_total", kind: .counter, help: "Datagrams to each target that failed to send (an error, or a full send buffer).", labels: ["target"])
    static let families = [upFamily, sentFamily, errorsFamily]

    /// Per-target series, the "targets" field of `/status.json`, and, where there is more than
    /// one target or one is skipped (one target: the listener's counters say it all), a note,
    /// a STATUS= part for the skipped ones and the SIGUSR1 summary.
    func extras(of spec: ListenerSpec) -> ListenerExtras {
        let all = snapshot()
        guard !all.isEmpty else { return .none }
        var extras = ListenerExtras()
        extras.samples = all.map { ExtraSample(Self.upFamily, labels: [$0.label], .count($0.skipped == nil ? 1 : 0)) }
            + all.map { ExtraSample(Self.sentFamily, labels: [$0.label], .count($0.sent)) }
            + all.map { ExtraSample(Self.errorsFamily, labels: [$0.label], .count($0.errors)) }
        extras.fields = [StatusField(key: "targets", json: "[" + all.map { t in
            "{\"target\": \(JSONString.quote(t.label)), \"destination\": \(t.destination.map(JSONString.quote) ?? "null"), \"sent\": \(t.sent), \"errors\": \(t.errors), \"skipped\": \(t.skipped.map(JSONString.quote) ?? "null")}"
        }.joined(separator: ", ") + "]")]
        let skipped = all.compactMap { s in s.skipped.map { "\(s.label) (\($0))" } }
        if !skipped.isEmpty { extras.statusParts = ["\(spec.label) skips \(skipped.joined(separator: ", "))"] }
        guard all.count > 1 || !skipped.isEmpty else { return extras }
        extras.notes = ["targets: " + all.map { t in
            (t.skipped.map { "\(t.label) SKIPPED (\($0))" } ?? t.label) + " sent \(t.sent), errors \(t.errors)"
        }.joined(separator: "; ")]
        extras.statistics = [Self.summary(all)]
        return extras
    }

    /// "targets: eth1 (10.0.2.255:2002) sent=3 errors=0, eth2 skipped (interface "eth2" is down)".
    static func summary(_ all: [Snapshot]) -> String {
        "targets: " + all.map { s in
            if let why = s.skipped { return "\(s.label) skipped (\(why)), sent=\(s.sent) errors=\(s.errors)" }
            let to = s.destination.map { $0 == s.label ? "" : " (\($0))" } ?? ""
            return "\(s.label)\(to) sent=\(s.sent) errors=\(s.errors)"
        }.joined(separator: ", ")
    }
}
