import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// `ReloadPlan` as a value: which step each listener gets, and in what order, from specs alone.
@Suite struct ReloadPlanTests {
    typealias Step = ReloadPlan.Step

    /// The rule the real listeners follow, reduced to what the plan may rely on: the socket can
    /// stay when the kind and the bound endpoint are the same.
    static func sameSocket(_ from: ListenerSpec, _ to: ListenerSpec) -> Bool {
        from.kindName == to.kindName && from.boundEndpoint == to.boundEndpoint
    }

    static func plan(_ running: [ListenerSpec], _ wanted: [ListenerSpec]) -> ReloadPlan {
        ReloadPlan(running: running, wanted: wanted, canUpdate: sameSocket)
    }

    @Test("An unchanged listener is kept, and the update rule is not even asked")
    func unchangedIsKept() {
        var asked: [String] = []
        let a = echoSpec("a", port: 2000)
        let plan = ReloadPlan(running: [a], wanted: [a]) { from, _ in
            asked.append(from.name)
            return true
        }
        #expect(plan.steps == [.keep(a)])
        #expect(asked.isEmpty)
    }

    @Test("A change the socket can take is an update in place, with no release")
    func changeOnTheSameSocketIsAnUpdate() {
        let old = echoSpec("a", port: 2000, prefix: "v1:"), new = echoSpec("a", port: 2000, prefix: "v2:")
        #expect(Self.plan([old], [new]).steps == [.update(from: old, to: new)])
    }

    @Test("A change the socket cannot take: release it first, then restart (new spec, old as fallback)")
    func changeOfSocketIsAReleaseThenARestart() {
        let old = echoSpec("a", port: 2000), new = echoSpec("a", port: 2001)
        #expect(Self.plan([old], [new]).steps == [.release(old), .restart(from: old, to: new)])
    }

    @Test("A listener gone from the configuration is removed; a new one is added")
    func removeAndAdd() {
        let gone = echoSpec("gone", port: 2000), fresh = echoSpec("fresh", port: 2001)
        #expect(Self.plan([gone], [fresh]).steps == [.remove(gone), .add(fresh)])
        #expect(Self.plan([gone], []).steps == [.remove(gone)])
        #expect(Self.plan([], [fresh]).steps == [.add(fresh)])
    }

    @Test("Every step kind in one reload: removals, then releases, then the new configuration's order")
    func everyStepInOrder() {
        let keep = echoSpec("keep", port: 2000), change = echoSpec("change", port: 2001, prefix: "old:")
        let move = echoSpec("move", port: 2002), gone = echoSpec("gone", port: 2003)
        let changed = echoSpec("change", port: 2001, prefix: "new:"), moved = echoSpec("move", port: 2012)
        let add = echoSpec("add", port: 2004)
        let plan = Self.plan([keep, change, move, gone], [add, moved, keep, changed])
        #expect(plan.steps == [
            .remove(gone), .release(move),
            .add(add), .restart(from: move, to: moved), .keep(keep), .update(from: change, to: changed),
        ])
        // Nothing is bound before every socket that goes away is closed.
        let lastFree = plan.steps.lastIndex { $0.frees != nil }!
        let firstBind = plan.steps.firstIndex { $0.binds != nil }!
        #expect(lastFree < firstBind)
    }

    @Test("Removals come in the running order, releases in the new configuration's order (as before the plan)")
    func freesKeepTheRunningOrder() {
        let r1 = echoSpec("r1", port: 2000), g1 = echoSpec("g1", port: 2001), r2 = echoSpec("r2", port: 2002), g2 = echoSpec("g2", port: 2003)
        let r1b = echoSpec("r1", port: 2010), r2b = echoSpec("r2", port: 2012)
        #expect(Self.plan([r1, g1, r2, g2], [r2b, r1b]).steps == [
            .remove(g1), .remove(g2), .release(r2), .release(r1), .restart(from: r2, to: r2b), .restart(from: r1, to: r1b),
        ])
    }

    @Test("A removed listener's port given to a new listener: the removal comes before the add")
    func portMovesFromARemovedListenerToANewOne() {
        let a = echoSpec("a", port: 2000), b = echoSpec("b", port: 2000)
        let plan = Self.plan([a], [b])
        #expect(plan.steps == [.remove(a), .add(b)])
        #expect(plan.portMoves() == [.init(endpoint: a.boundEndpoint!, from: "a", to: "b")])
        assertEveryMoveFreesBeforeItBinds(plan)
    }

    @Test("A renamed listener is a removal and an add (not a keep), so it can bind the same port")
    func renameIsRemoveThenAdd() {
        let old = echoSpec("old", port: 2000, prefix: "p:"), renamed = echoSpec("renamed", port: 2000, prefix: "p:")
        let plan = Self.plan([old], [renamed])
        #expect(plan.steps == [.remove(old), .add(renamed)])
        #expect(plan.portMoves().map(\.to) == ["renamed"])
    }

    @Test("A restarted listener's old port given to another listener: its release comes before that bind")
    func portMovesFromARestartedListenerToAnother() {
        let a = echoSpec("a", port: 2000), aMoved = echoSpec("a", port: 2001), b = echoSpec("b", port: 2000)
        let plan = Self.plan([a], [b, aMoved])
        #expect(plan.steps == [.release(a), .add(b), .restart(from: a, to: aMoved)])
        #expect(plan.portMoves() == [.init(endpoint: b.boundEndpoint!, from: "a", to: "b")])
        assertEveryMoveFreesBeforeItBinds(plan)
    }

    @Test("Two listeners swap ports: both release before either binds")
    func swap() {
        let a = echoSpec("a", port: 2000), b = echoSpec("b", port: 2001)
        let a2 = echoSpec("a", port: 2001), b2 = echoSpec("b", port: 2000)
        let plan = Self.plan([a, b], [a2, b2])
        #expect(plan.steps == [.release(a), .release(b), .restart(from: a, to: a2), .restart(from: b, to: b2)])
        #expect(plan.portMoves() == [
            .init(endpoint: a2.boundEndpoint!, from: "b", to: "a"),
            .init(endpoint: b2.boundEndpoint!, from: "a", to: "b"),
        ])
        assertEveryMoveFreesBeforeItBinds(plan)
    }

    @Test("A listener restarting on its own port, and port 0, are no port moves")
    func noMoves() {
        let a = echoSpec("a", port: 2000), aTcp = echoSpec("a", port: 2000, prefix: "x")
        let z = echoSpec("z", port: 0), z2 = echoSpec("z2", port: 0)
        let plan = ReloadPlan(running: [a, z], wanted: [aTcp, z2]) { _, _ in false }
        #expect(plan.steps == [.remove(z), .release(a), .restart(from: a, to: aTcp), .add(z2)])
        #expect(plan.portMoves().isEmpty)
    }

    @Test("The update rule decides between update and restart, asked with the running and the wanted spec")
    func theRuleDecides() {
        let old = echoSpec("a", port: 2000), new = echoSpec("a", port: 2000, prefix: "v2:")
        var asked: [(ListenerSpec, ListenerSpec)] = []
        let never = ReloadPlan(running: [old], wanted: [new]) { from, to in
            asked.append((from, to))
            return false
        }
        #expect(never.steps == [.release(old), .restart(from: old, to: new)])
        #expect(asked.count == 1 && asked[0] == (old, new))
    }

    private func assertEveryMoveFreesBeforeItBinds(_ plan: ReloadPlan, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        for move in plan.portMoves() {
            let freed = plan.steps.firstIndex { $0.frees?.name == move.from }
            let bound = plan.steps.firstIndex { $0.binds?.name == move.to }
            #expect(freed != nil && bound != nil && freed! < bound!, "\(move)", sourceLocation: sourceLocation)
        }
    }
}

/// A tcp-echo spec on 127.0.0.1:`port`; the only place these tests build a spec.
func echoSpec(_ name: String, port: Int, prefix: String = "") -> ListenerSpec {
    var tcp = TCPEchoSpec(listen: try! Endpoint.parse("127.0.0.1:\(port)").get())
    tcp.replyPrefix = prefix
    return ListenerSpec(name: name, kindSpec: tcp)
}

/// Which endpoints a plan hands from one listener to another, for the tests of its order.
extension ReloadPlan {
    /// An endpoint that a running listener holds and another wanted listener binds.
    struct PortMove: Equatable {
        var endpoint: Endpoint
        var from: String
        var to: String
    }

    /// Endpoints that change hands: held by one running listener, bound by another wanted one
    /// (a port given to a new or renamed listener, or two listeners swapping ports).
    func portMoves() -> [PortMove] {
        var holder: [Endpoint: String] = [:]
        for case let spec? in steps.map(\.frees) {
            if let e = spec.boundEndpoint, e.port != 0 { holder[e] = spec.name }
        }
        return steps.compactMap { step -> PortMove? in
            guard let spec = step.binds, let e = spec.boundEndpoint, let from = holder[e], from != spec.name else { return nil }
            return PortMove(endpoint: e, from: from, to: spec.name)
        }
    }
}

extension ReloadPlan.Step {
    /// The spec this step binds a fresh socket for (nil: it binds nothing).
    var binds: ListenerSpec? {
        switch self {
        case .restart(_, let to): return to
        case .add(let s): return s
        case .remove, .release, .keep, .update: return nil
        }
    }

    /// The spec this step closes a socket of (nil: it closes none).
    var frees: ListenerSpec? {
        switch self {
        case .remove(let s), .release(let s): return s
        case .keep, .update, .restart, .add: return nil
        }
    }
}
