import NetRelayConfig

/// Where a listener is in its one life: `idle → starting → running → stopping → stopped`.
/// A listener is never started twice: the supervisor makes a new one for a restart.
public enum ListenerPhase: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Made, nothing opened yet.
    case idle
    /// Binding (or adopting) its socket.
    case starting
    /// Serving.
    case running
    /// Its socket is closed or closing; connections may still be finishing.
    case stopping
    /// Nothing of it is open any more. The end: no event leaves it.
    case stopped

    public var description: String { rawValue }
}

/// What happens to a listener, in the order it can happen.
public enum ListenerEvent: String, Sendable, CaseIterable {
    /// `start()` was called.
    case start
    /// The socket is bound and serving.
    case started
    /// The start threw (or was stopped before it finished): whatever it opened is closed again.
    case startFailed
    /// `stopAccepting()` was called.
    case stop
    /// `drain` finished: the last connection is closed.
    case drained
}

/// The transition rule, as a value: `handle` moves only along the arrows of `next`, and
/// refuses (returns false, the phase unchanged) everything else.
public struct ListenerLifecycle: Sendable, Equatable {
    public private(set) var phase: ListenerPhase = .idle

    public init() {}

    /// The phase `event` leads to from `phase`; nil when it may not happen there.
    public static func next(from phase: ListenerPhase, on event: ListenerEvent) -> ListenerPhase? {
        switch (phase, event) {
        case (.idle, .start): return .starting
        case (.starting, .started): return .running
        // A stop that came while starting: the start closes what it opened.
        case (.starting, .startFailed), (.stopping, .startFailed): return .stopped
        // Nothing was opened, so nothing is left to close or drain.
        case (.idle, .stop): return .stopped
        case (.starting, .stop), (.running, .stop): return .stopping
        case (.stopping, .drained): return .stopped
        default: return nil
        }
    }

    /// Moves to the phase `event` leads to; false (and no move) when the rule refuses it.
    @discardableResult
    public mutating func handle(_ event: ListenerEvent) -> Bool {
        guard let next = Self.next(from: phase, on: event) else { return false }
        phase = next
        return true
    }
}
