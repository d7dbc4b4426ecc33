import NIOCore
import NetRelayConfig

/// A listener of one kind, written against its own spec type. The supervisor sees the
/// type-erased `Listener` (a `ListenerSpec` of any kind); this protocol turns that edge into
/// the kind's spec in one place, `typedSpec` (`ListenerSpec.kindSpec(as:)`), and does for every kind what is the same:
/// the lifecycle phase, the start and update lines, and stopping.
///
/// A kind writes `serve` (bind and start serving), `closeSockets`, `canUpdate(from:to:)`,
/// `apply` (an update in place), `revalidate`, and `connections`: what becomes of its
/// connections at a stop and a restart (`NoConnections` when it holds none).
protocol TypedListener: Listener {
    associatedtype Spec: KindSpec
    /// What the kind holds while it runs (socket, handler, setup), kept in `core`'s lock.
    associatedtype Running: Sendable

    var core: ListenerCore<Self> { get }

    /// Binds (or adopts) and starts serving `spec`. Throws `ListenerStartError`; whatever it
    /// opened before failing is closed.
    func serve(_ spec: Spec) async throws -> StartReport
    /// Closes what `serve` opened: the port is free when it returns. Called once nothing may
    /// start any more, also for a listener that never served.
    func closeSockets() async
    /// Whether `new` can replace `old` without closing the socket.
    func canUpdate(from old: Spec, to new: Spec) -> Bool
    /// Applies `new` in place and stores it in `core`; nil when it cannot (it logs why), and
    /// the listener keeps its spec.
    func apply(_ new: Spec, gracePeriod: TimeAmount) async -> ServingLine?
    /// Drains, hands over and adopts its connections.
    var connections: any ListenerConnections { get }
}

extension TypedListener {
    /// The one place a `ListenerSpec` becomes this kind's spec: nil for another kind's.
    static func typedSpec(_ spec: ListenerSpec) -> Spec? { spec.kindSpec(as: Spec.self) }

    var spec: ListenerSpec { core.erasedSpec }
    var localDescription: String { core.address }
    var phase: ListenerPhase { core.phase }

    func start() async throws {
        guard core.handle(.start) else {
            throw ListenerStartError(spec: spec, action: "start", address: core.address,
                                     reason: "it is \(core.phase), and a listener starts only once", errno: nil)
        }
        let report: StartReport
        do {
            report = try await serve(core.spec)
        } catch {
            core.handle(.startFailed)
            throw error
        }
        guard core.started(at: report.address) else {
            // stopAccepting came while we were binding.
            await closeSockets()
            core.handle(.startFailed)
            throw ListenerStartError(spec: spec, action: "bind", address: core.address, reason: "stopped while starting", errno: nil)
        }
        core.logStarted(report)
    }

    func stopAccepting() async {
        if core.handle(.stop) { await closeSockets() }
    }

    func drain(gracePeriod: TimeAmount) async {
        await connections.drain(gracePeriod: gracePeriod)
        core.handle(.drained)
    }

    func handOver(gracePeriod: TimeAmount) async -> Int {
        let stored = await connections.handOver(gracePeriod: gracePeriod)
        core.handle(.drained)
        return stored
    }

    func adoptConnections(_ stored: [InheritedSocket]) async -> Int {
        await connections.adopt(stored)
    }

    func canUpdate(to newSpec: ListenerSpec) -> Bool {
        guard newSpec.name == core.name, let new = Self.typedSpec(newSpec) else { return false }
        return canUpdate(from: core.spec, to: new)
    }

    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async -> Bool {
        guard newSpec.name == core.name, let new = Self.typedSpec(newSpec) else {
            core.logger.error("Cannot update \(spec.label) in place to \(newSpec.label); it keeps running as it was",
                              metadata: ["event": "update-failed"])
            return false
        }
        guard let line = await apply(new, gracePeriod: gracePeriod) else { return false }
        core.logUpdated(line)
        return true
    }
}
