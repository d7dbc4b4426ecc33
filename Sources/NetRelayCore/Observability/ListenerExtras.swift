import NetRelayConfig

/// What a listener exports besides its `Counter`s, read when asked (a scrape, STATUS=,
/// SIGUSR1), in the words and series its kind chose: a rebroadcaster's per-target counters,
/// an announcer's lateness histogram. Shared code renders it without knowing the kind.
public struct ListenerExtras: Sendable, Equatable {
    /// Samples of the families its kind declares (`ListenerKindTag.families`). At most
    /// `sampleLimit` are exported per listener: labels are few and come from the configuration
    /// (targets, interfaces), never from peers.
    public var samples: [ExtraSample] = []
    /// Further fields of its `/status.json` object, e.g. `"targets": [...]`.
    public var fields: [StatusField] = []
    /// Lines about it for people: `netrelayctl status` prints them under its table
    /// (`/status.json` "notes"), e.g. "targets: eth1 sent 3, errors 0; eth2 SKIPPED (...)".
    public var notes: [String] = []
    /// Parts of the STATUS= line, e.g. "broadcast-rebroadcaster \"r\" on ... skips eth2 (...)".
    public var statusParts: [String] = []
    /// Appended to its SIGUSR1 line, e.g. "targets: eth1 (10.0.1.255:2002) sent=3 errors=0".
    public var statistics: [String] = []

    /// A listener with nothing beyond its counters.
    public static let none = ListenerExtras()

    /// The most samples a listener exports; more are left out of `/metrics`.
    public static let sampleLimit = 1024
}

/// A metric family a kind exports from its extras: its own (`netrelayd_relay_target_sent_total`)
/// or a shared counter family (`netrelayd_datagrams_dropped_total`, with its `reason` label),
/// whose samples then join that family's and count in the listener's `dropped`.
public struct ExtraFamily: Sendable, Hashable {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    public var name: String
    public var kind: Kind
    public var help: String
    /// The labels its samples add to `listener` and `kind`: fixed by the family.
    public var labels: [String]
}

/// One sample of an `ExtraFamily`.
public struct ExtraSample: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case count(Int)
        case number(Double)
        case histogram(HistogramSnapshot)
    }

    public var family: ExtraFamily
    /// One value per label of the family, in its order.
    public var labels: [String]
    public var value: Value

    public init(_ family: ExtraFamily, labels: [String] = [], _ value: Value) {
        self.family = family
        self.labels = labels
        self.value = value
    }
}

/// A field of a listener's `/status.json` object: its key and its value, already JSON.
public struct StatusField: Sendable, Equatable {
    public var key: String
    public var json: String
}
