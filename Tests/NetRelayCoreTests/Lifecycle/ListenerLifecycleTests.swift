import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// The lifecycle rule as a value: which events move a listener where, and that nothing else does.
@Suite("Listener lifecycle phases")
struct ListenerLifecycleTests {
    /// `handle`, outside `#expect` (which cannot call a mutating method).
    func moved(_ life: inout ListenerLifecycle, _ event: ListenerEvent) -> Bool {
        life.handle(event)
    }

    /// Every allowed move, written out once; every other (phase, event) pair is refused.
    static let allowed: [ListenerPhase: [ListenerEvent: ListenerPhase]] = [
        .idle: [.start: .starting, .stop: .stopped],
        .starting: [.started: .running, .startFailed: .stopped, .stop: .stopping],
        .running: [.stop: .stopping],
        .stopping: [.drained: .stopped, .startFailed: .stopped],
        .stopped: [:],
    ]

    @Test("next(from:on:) allows exactly the listed moves", arguments: ListenerPhase.allCases)
    func table(phase: ListenerPhase) {
        for event in ListenerEvent.allCases {
            #expect(ListenerLifecycle.next(from: phase, on: event) == Self.allowed[phase]?[event], "\(phase) on \(event)")
        }
    }

    @Test("A whole life: idle, starting, running, stopping, stopped")
    func wholeLife() {
        var life = ListenerLifecycle()
        #expect(life.phase == .idle)
        var seen = [life.phase]
        for event in [ListenerEvent.start, .started, .stop, .drained] {
            #expect(moved(&life, event) == true)
            seen.append(life.phase)
        }
        #expect(seen == [.idle, .starting, .running, .stopping, .stopped])
    }

    @Test("A refused event leaves the phase as it was")
    func refusedKeepsPhase() {
        var life = ListenerLifecycle()
        #expect(moved(&life, .started) == false)
        #expect(moved(&life, .drained) == false)
        #expect(life.phase == .idle)
        life.handle(.start)
        #expect(moved(&life, .start) == false)
        #expect(life.phase == .starting)
    }

    @Test("Started only once: stopped is the end, and a second start is refused")
    func noRestart() {
        var life = ListenerLifecycle()
        for event in [ListenerEvent.start, .started, .stop, .drained] { life.handle(event) }
        for event in ListenerEvent.allCases {
            #expect(moved(&life, event) == false)
            #expect(life.phase == .stopped)
        }
    }

    @Test("A stop while starting: the start that finishes then is refused, and its failure ends the life")
    func stopWhileStarting() {
        var life = ListenerLifecycle()
        life.handle(.start)
        #expect(moved(&life, .stop) == true)
        #expect(life.phase == .stopping)
        #expect(moved(&life, .started) == false)
        #expect(moved(&life, .startFailed) == true)
        #expect(life.phase == .stopped)
    }

    @Test("A stop before any start: nothing to close or drain, stopped at once")
    func stopBeforeStart() {
        var life = ListenerLifecycle()
        #expect(moved(&life, .stop) == true)
        #expect(life.phase == .stopped)
        #expect(moved(&life, .start) == false)
    }
}

