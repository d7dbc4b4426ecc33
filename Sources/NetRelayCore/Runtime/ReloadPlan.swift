import NetRelayConfig

/// What a reload does, as a value: the ordered steps that turn the listeners that run into the
/// listeners the new configuration wants. Computed from specs alone (plus a rule that says
/// whether a running listener can take a new spec without closing its socket), so it is tested
/// without sockets; `Supervisor.reload` executes it.
///
/// The order is the point:
/// 1. every port that is going away is freed first: removed listeners stop (`remove`, in the
///    running order), then every listener that restarts closes its socket (`release`, in the
///    new configuration's order);
/// 2. then, in the order of the new configuration, each wanted listener is kept, updated in
///    place, restarted (its new spec, or its old one if that fails) or added.
///
/// So nothing binds while a port it needs may still be held by this daemon: a port can move
/// from a removed (or renamed) listener to a new one, from a restarted listener to another, and
/// two restarted listeners can swap ports, all in one reload.
public struct ReloadPlan: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        /// Close the socket of a listener the new configuration no longer has, let its
        /// connections drain, and report it removed.
        case remove(ListenerSpec)
        /// Close the socket of a listener that restarts below, before anything binds.
        case release(ListenerSpec)
        /// Unchanged: keeps running (and its connections); re-reads what its spec refers to.
        case keep(ListenerSpec)
        /// Changed, but its socket can stay: the new spec is applied in place.
        case update(from: ListenerSpec, to: ListenerSpec)
        /// Changed so that its socket cannot stay (already released): start `to`; if that fails,
        /// start `from` again; if that fails too, the listener is down until the next reload.
        case restart(from: ListenerSpec, to: ListenerSpec)
        /// New: start it.
        case add(ListenerSpec)
    }

    public private(set) var steps: [Step]

    /// - Parameters:
    ///   - running: the specs of the listeners that run now (names are unique).
    ///   - wanted: the listeners of the new configuration, in its order (names are unique).
    ///   - canUpdate: whether the running listener with spec `from` can apply `to` in place.
    public init(running: [ListenerSpec], wanted: [ListenerSpec], canUpdate: (_ from: ListenerSpec, _ to: ListenerSpec) -> Bool) {
        var byName: [String: ListenerSpec] = [:]
        for spec in running where byName[spec.name] == nil { byName[spec.name] = spec }
        let wantedNames = Set(wanted.map(\.name))
        var frees: [Step] = running.filter { !wantedNames.contains($0.name) }.map { .remove($0) }
        var binds: [Step] = []
        for spec in wanted {
            guard let old = byName[spec.name] else {
                binds.append(.add(spec))
                continue
            }
            if old == spec {
                binds.append(.keep(old))
            } else if canUpdate(old, spec) {
                binds.append(.update(from: old, to: spec))
            } else {
                frees.append(.release(old))
                binds.append(.restart(from: old, to: spec))
            }
        }
        steps = Self.removalsFirst(frees) + binds
    }

    /// Removals (in the running order) before releases (in the new configuration's order): a
    /// listener that goes away stops before one that restarts.
    private static func removalsFirst(_ frees: [Step]) -> [Step] {
        frees.filter { if case .remove = $0 { return true } else { return false } }
            + frees.filter { if case .release = $0 { return true } else { return false } }
    }
}
