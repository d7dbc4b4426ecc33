#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells the service manager how the daemon is doing (sd_notify(3) in production,
/// a recorder in tests). Messages are newline-separated `KEY=value` assignments.
public protocol ServiceNotifier: Sendable {
    func notify(_ message: String)
    /// Sends `message` with `fileDescriptors` attached (SCM_RIGHTS; sd_pid_notify_with_fds(3)),
    /// for FDSTORE=1. Returns false when they were not sent: the caller still owns them either way.
    func notify(_ message: String, fileDescriptors: [CInt]) -> Bool
}

extension ServiceNotifier {
    public func notify(_ message: String, fileDescriptors: [CInt]) -> Bool { false }
}

/// For runs outside systemd and for tests that do not care.
public struct NullNotifier: ServiceNotifier {
    public init() {}
    public func notify(_ message: String) {}
}

public enum NotifyMessage {
    /// STATUS= is one line; systemd shows it verbatim in `systemctl status`.
    public static func status(_ text: String) -> String {
        "STATUS=" + text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// RELOADING=1 with the CLOCK_MONOTONIC timestamp systemd 253+ expects alongside it.
    public static func reloading() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        return "RELOADING=1\nMONOTONIC_USEC=\(usec)"
    }
}
