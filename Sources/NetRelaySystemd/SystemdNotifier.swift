import CSystemd
import NetRelayCore
import NIOCore

/// sd_notify(3): a no-op when NOTIFY_SOCKET is unset (not under systemd).
public struct SystemdNotifier: ServiceNotifier {
    public init() {}

    public func notify(_ message: String) {
        _ = sd_notify(0, message)
    }

    /// The watchdog interval systemd asks for (WATCHDOG_USEC, checked against WATCHDOG_PID).
    public static func watchdogInterval() -> TimeAmount? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }
}
