import NIOCore
import NetRelayConfig

/// At most one log line per `window` for a problem that can repeat on every timer tick (an
/// announcement that cannot be sent, an event loop that keeps stalling): the first occurrence
/// is logged at once, later ones within the window are only counted, and the next line says
/// how many were not logged. A value type on one event loop; no timers of its own, so a
/// problem that stops produces no further lines.
struct LogThrottle: Sendable {
    let window: TimeAmount
    private var lastLogged: NIODeadline?
    private var suppressed = 0

    init(window: TimeAmount = .seconds(10)) {
        self.window = window
    }

    /// Whether to log this occurrence; if so, how many occurrences since the last line were
    /// not logged (0 for the first).
    mutating func admit(now: NIODeadline) -> Int? {
        if let lastLogged, now - lastLogged < window {
            suppressed += 1
            return nil
        }
        lastLogged = now
        defer { suppressed = 0 }
        return suppressed
    }
}
