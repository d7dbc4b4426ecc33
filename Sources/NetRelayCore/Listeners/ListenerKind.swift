import Logging
import NIOPosix
import NetRelayConfig

/// A listener kind: one row of the table of kinds (`ListenerKinds`). The configuration half
/// (`ListenerKindSchema`: keys, decoding) and the spec's own facts (`KindSpec`: label,
/// bind, footprint, relay edges, warnings) are in the kind's Config/ folder; this half says how
/// it runs and what it reports. No requirement has a default, so a kind that forgets a piece
/// does not compile.
protocol ListenerKind: ListenerKindSchema {
    /// What this kind's listeners share in one daemon (tcp-echo: the memory budget; the
    /// announcer: the host name); `NothingShared` when nothing.
    associatedtype Shared: KindShared
    /// Made once per daemon, when its table of kinds is set up (`ListenerContext`).
    func makeShared(_ daemon: DaemonResources) -> Shared
    /// The listener serving `spec`, not started yet.
    func listener(name: String, spec: Spec, context: ListenerContext, shared: Shared) -> any Listener
    /// Adds one listener's counts to the STATUS= line.
    func addStatus(_ listener: ListenerSnapshot, to status: inout StatusTally)
    /// The counters its listeners keep: what `/metrics` and `/status.json` export for them.
    var counters: [Counter] { get }
    /// The metric families its listeners' extras have samples of (`ListenerExtras`).
    var families: [ExtraFamily] { get }
    /// Whether its listeners hold connections (the open-connections gauge and field).
    var holdsConnections: Bool { get }
}

/// What the daemon gives a kind to make its shared state from.
struct DaemonResources: Sendable {
    var group: MultiThreadedEventLoopGroup
    var logger: Logger
}

/// A kind's state shared by its listeners in one daemon, and how it follows the daemon.
protocol KindShared: Sendable {
    /// The configuration was loaded (at start and on every reload): take what the kind uses of
    /// the daemon-wide keys (tcp-echo: `memoryBudget`).
    func configure(_ configuration: Configuration)
    /// SIGUSR1's lines about the kind as a whole, before the per-listener lines.
    var statistics: [String] { get }
}

/// The shared state of a kind whose listeners share nothing.
struct NothingShared: KindShared {
    func configure(_ configuration: Configuration) {}
    var statistics: [String] { [] }
}

extension ListenerKind {
    /// What the observability side knows of the kind.
    var tag: ListenerKindTag {
        ListenerKindTag(name: name, counters: counters, families: families, holdsConnections: holdsConnections)
    }
}
