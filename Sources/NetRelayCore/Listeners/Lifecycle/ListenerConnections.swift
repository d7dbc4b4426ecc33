import Logging
import NIOCore
import NetRelayConfig

/// What a listener does with the connections it holds when it stops, and with those the
/// previous instance left in systemd's fd store when it starts. Part of every kind's contract
/// (`TypedListener.connections`): a kind that holds connections must say how they drain, go to
/// the store and come back; one that holds none says so with `NoConnections`.
protocol ListenerConnections: Sendable {
    /// Lets open connections finish their in-flight work for up to `gracePeriod`, then closes
    /// them. Returns when all are closed.
    func drain(gracePeriod: TimeAmount) async
    /// For a restart: every open connection that fits goes to the fd store instead of being
    /// closed (no FIN: the next instance carries on with it); the rest drain as by `drain`.
    /// Returns how many were stored.
    func handOver(gracePeriod: TimeAmount) async -> Int
    /// Takes over the connections the previous instance stored (after the listener started).
    /// Returns how many it adopted; the others are closed and leave the store.
    func adopt(_ stored: [InheritedSocket]) async -> Int
}

/// The connections of a kind that holds none (its work ends with its socket: a datagram is
/// answered within the read that received it, an announcement is one datagram): nothing to
/// drain or hand over, and a stored connection under its name is let go.
struct NoConnections: ListenerConnections {
    let label: String
    let store: FileDescriptorStore
    let logger: Logger

    init(label: String, context: ListenerContext, logger: Logger) {
        self.label = label
        self.store = context.fdStore
        self.logger = logger
    }

    init<L: TypedListener>(_ core: ListenerCore<L>) {
        self.init(label: core.erasedSpec.label, context: core.context, logger: core.logger)
    }

    func drain(gracePeriod: TimeAmount) async {}

    func handOver(gracePeriod: TimeAmount) async -> Int { 0 }

    func adopt(_ stored: [InheritedSocket]) async -> Int {
        for socket in stored { store.discard(socket, logger: logger, why: "\(label) holds no connections") }
        return 0
    }
}
