import Logging
import NIOConcurrencyHelpers
import NetRelayConfig

/// What every listener keeps the same way, behind one lock: its typed spec, its lifecycle
/// phase, where it serves, and the kind's own running state (`L.Running`: its socket,
/// handler, setup). It also logs the lines every kind shares: "Listening: ..." when it
/// starts serving and "Updated ... in place" when a reload changed it.
final class ListenerCore<L: TypedListener>: Sendable {
    struct State {
        var spec: L.Spec
        var lifecycle = ListenerLifecycle()
        /// Where it serves: the bind address until the start resolved a port of 0.
        var address: String
        var running: L.Running
    }

    let name: String
    let context: ListenerContext
    private let state: NIOLockedValueBox<State>

    init(name: String, spec: L.Spec, context: ListenerContext, address: String, running: L.Running) {
        self.name = name
        self.context = context
        self.state = NIOLockedValueBox(State(spec: spec, address: address, running: running))
    }

    func withState<R>(_ body: (inout State) throws -> R) rethrows -> R {
        try state.withLockedValue(body)
    }

    var spec: L.Spec { withState { $0.spec } }
    var running: L.Running { withState { $0.running } }
    var address: String { withState { $0.address } }
    var phase: ListenerPhase { withState { $0.lifecycle.phase } }
    var erasedSpec: ListenerSpec { ListenerSpec(name: name, kindSpec: spec) }
    /// A logger whose lines carry LISTENER= and the kind.
    var logger: Logger { context.logger(for: erasedSpec) }

    /// Applies `event` to the phase; false when the rule refuses it there.
    @discardableResult
    func handle(_ event: ListenerEvent) -> Bool {
        withState { $0.lifecycle.handle(event) }
    }

    /// starting → running at `address` (nil: keep the one it has). False when a stop came
    /// while starting: the caller closes what it opened.
    func started(at address: String?) -> Bool {
        withState { s in
            guard s.lifecycle.handle(.started) else { return false }
            if let address { s.address = address }
            return true
        }
    }

    // MARK: The lines every kind logs

    /// `Listening: tcp-echo "echo" on 127.0.0.1:2000 (maxConnections 1024, ...)`, or the
    /// headline a kind chose (`Announcing: ... every 1 s from 0.0.0.0:42246 (...)`).
    func logStarted(_ report: StartReport) {
        let line = report.line
        let activity = line.activity.map { ", \($0)" } ?? ""
        let headline = report.headline ?? "Listening: \(erasedSpec.kindName) \"\(name)\" on \(address)"
        logger.info("\(headline)\(activity) (\(line.details))", metadata: ["event": "listening", "address": .string(address)])
        for warning in report.warnings {
            logger.warning("\(warning)", metadata: ["event": "config-warning"])
        }
    }

    /// `Updated udp-responder "udp" on 127.0.0.1:2001 in place (...)`; with an activity,
    /// `Updated ... in place: rebroadcasting to ... (...)`.
    func logUpdated(_ line: ServingLine) {
        let activity = line.activity.map { ": \($0)" } ?? ""
        logger.info("Updated \(erasedSpec.label) in place\(activity) (\(line.details))", metadata: ["event": "updated"])
    }
}

/// The part of the start and update lines that says what a listener serves and how.
struct ServingLine: Sendable {
    /// Besides serving, e.g. "rebroadcasting to 10.1.255.255:2002".
    var activity: String?
    /// The spec in force, "maxConnections 1024, allowHalfOpen, ...".
    var details: String

    init(activity: String? = nil, details: String) {
        self.activity = activity
        self.details = details
    }
}

/// What a kind's `serve` reports once it serves: the start line.
struct StartReport: Sendable {
    /// Where STATUS and the start line say it serves from now on (a port of 0 resolved); nil:
    /// the address it was made with (an announcer's destination).
    var address: String?
    /// How the start line begins; nil: `Listening: KIND "NAME" on ADDRESS`.
    var headline: String?
    var line: ServingLine
    /// Logged after the start line (the interface has no MULTICAST flag, ...).
    var warnings: [String] = []
}
