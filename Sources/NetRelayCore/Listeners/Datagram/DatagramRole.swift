import Logging
import NIOCore
import NetRelayConfig

/// What makes a `DatagramListener` a udp-responder or a broadcast-rebroadcaster: its spec,
/// the socket options, the handler and its settings, and the kind's log text. Everything else
/// (the socket, installing a handler per socket, applying settings on reload) is the
/// listener's, once for both.
protocol DatagramRole: Sendable {
    associatedtype Spec: ListenerSettings
    associatedtype Settings: Sendable
    associatedtype Handler: ChannelHandler

    init(stats: ListenerStats)

    static func listen(_ spec: Spec) -> Endpoint
    static func socketOptions(_ spec: Spec) -> DatagramSocket.Options

    /// The handler's settings for `spec`, resolved against the host now. Throws
    /// `ListenerStartError` when they do not resolve. `commit` false: a trial (`canUpdate`),
    /// which leaves the counters alone.
    func settings(for spec: Spec, _ erased: ListenerSpec, commit: Bool) throws -> Settings
    static func makeHandler(_ settings: Settings, stats: ListenerStats, logger: Logger, sender: DatagramSender?) -> Handler
    static func apply(_ settings: Settings, to handler: Handler)
    static func lastSendError(of handler: Handler) -> String?

    func canUpdate(from old: Spec, to new: Spec) -> Bool
    /// What the start and update lines say.
    static func line(_ spec: Spec, _ settings: Settings) -> ServingLine
    /// Said after the error when an update cannot resolve its settings.
    static var keptOnFailedUpdate: String { get }

    /// Whether a reload that kept the spec found settings the handler must get.
    func differ(_ old: Settings?, _ new: Settings) -> Bool
    /// Logs what changed in what `settings` serves, against `previous` (nil: at start).
    func report(_ settings: Settings, previous: Settings?, _ erased: ListenerSpec, _ logger: Logger)
    /// After a reload that kept the spec gave the handler new settings.
    func revalidated(from old: Settings?, to new: Settings, _ spec: Spec, _ erased: ListenerSpec, _ logger: Logger)

    /// The settings of socket `index` of `count` (a listener-wide limit split between them).
    static func share(_ settings: Settings, index: Int, of count: Int) -> Settings

    /// What the listener exports besides its counters.
    func extras(_ spec: ListenerSpec) -> ListenerExtras

    /// How often the settings are refreshed between reloads; nil: never.
    static var refreshInterval: Duration? { get }
    /// Reads what may have changed on the host for `spec` and returns the edit to the
    /// current settings, which says whether it changed them.
    func refresh(_ spec: Spec) -> (inout Settings) -> Bool
}
