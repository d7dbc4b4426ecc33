import Logging
import NIOCore
import NetRelayConfig

/// What makes a `DatagramListener` a udp-responder or a broadcast-rebroadcaster: its spec,
/// the socket options, the handler and its setup, and the kind's log text. Everything else
/// (the socket, installing a handler per socket, applying a new setup on reload) is the
/// listener's, once for both.
protocol DatagramRole: Sendable {
    associatedtype Spec: KindSpec
    associatedtype Setup: Sendable
    associatedtype Handler: ChannelHandler

    init(stats: ListenerStats)

    static func listen(_ spec: Spec) -> Endpoint
    static func socketOptions(_ spec: Spec) -> DatagramSocket.Options

    /// The handler's setup for `spec`, resolved against the host now. Throws
    /// `ListenerStartError` when they do not resolve. `commit` false: a trial (`canUpdate`),
    /// which leaves the counters alone.
    func setup(for spec: Spec, _ erased: ListenerSpec, commit: Bool) throws -> Setup
    static func makeHandler(_ setup: Setup, stats: ListenerStats, logger: Logger, sender: DatagramSender?) -> Handler
    static func apply(_ setup: Setup, to handler: Handler)
    static func lastSendError(of handler: Handler) -> String?

    func canUpdate(from old: Spec, to new: Spec) -> Bool
    /// What the start and update lines say.
    static func line(_ spec: Spec, _ setup: Setup) -> ServingLine
    /// Said after the error when an update cannot resolve its setup.
    static var keptOnFailedUpdate: String { get }

    /// Whether a reload that kept the spec found a setup the handler must get.
    func differ(_ old: Setup?, _ new: Setup) -> Bool
    /// Logs what changed in what `setup` serves, against `previous` (nil: at start).
    func report(_ setup: Setup, previous: Setup?, _ erased: ListenerSpec, _ logger: Logger)
    /// After a reload that kept the spec gave the handler a new setup.
    func revalidated(from old: Setup?, to new: Setup, _ spec: Spec, _ erased: ListenerSpec, _ logger: Logger)

    /// The setup of socket `index` of `count` (a listener-wide limit split between them).
    static func share(_ setup: Setup, index: Int, of count: Int) -> Setup

    /// What the listener exports besides its counters.
    func extras(_ spec: ListenerSpec) -> ListenerExtras

    /// How often the setup is refreshed between reloads; nil: never.
    static var refreshInterval: Duration? { get }
    /// Reads what may have changed on the host for `spec` and returns the edit to the
    /// current setup, which says whether it changed it.
    func refresh(_ spec: Spec) -> (inout Setup) -> Bool
}

/// The row of a kind whose listeners are `DatagramListener`s of `Role`: they share nothing, hold
/// no connections and add to the udp part of STATUS=. A kind says so by conforming; the rest of
/// its row (counters, families) is its own.
protocol DatagramKind: ListenerKind where Shared == NothingShared {
    associatedtype Role: DatagramRole where Role.Spec == Spec
}

extension DatagramKind {
    func makeShared(_ daemon: DaemonResources) -> NothingShared { NothingShared() }

    func listener(name: String, spec: Spec, context: ListenerContext, shared: NothingShared) -> any Listener {
        DatagramListener<Role>(name: name, spec: spec, context: context)
    }

    func addStatus(_ l: ListenerSnapshot, to status: inout StatusTally) {
        status.addDatagrams(of: l)
    }

    var holdsConnections: Bool { false }
}
