#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NetRelayConfig

/// What the daemon tells the service manager: the core says what it means, and the notifier
/// (`SystemdNotifier` in NetRelaySystemd) writes it in sd_notify(3)'s `KEY=value` format.
public enum ServiceMessage: Sendable, Hashable {
    /// READY=1: start-up or a reload is complete.
    case ready
    /// RELOADING=1 with MONOTONIC_USEC=, the CLOCK_MONOTONIC time the reload began (systemd 253+).
    case reloading(monotonicMicroseconds: UInt64)
    /// STOPPING=1: graceful shutdown has begun.
    case stopping
    /// STATUS=: one line for `systemctl status` (control characters and newlines in `text` are
    /// escaped on the wire, `TextEscaping`).
    case status(String)
    /// ERRNO=: why the daemon failed, as an errno value.
    case errno(Int32)
    /// WATCHDOG=1: every event loop is alive.
    case watchdog
    /// FDSTORE=1 with FDNAME=: keep the file descriptors sent along under `name`.
    case fdStore(name: String)
    /// FDSTOREREMOVE=1 with FDNAME=: close the stored descriptors named `name`.
    case fdStoreRemove(name: String)

    /// `.reloading` stamped with the current CLOCK_MONOTONIC time.
    public static func reloadingNow() -> ServiceMessage {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .reloading(monotonicMicroseconds: UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000)
    }
}

/// Tells the service manager how the daemon is doing (sd_notify(3) in production,
/// a recorder in tests). The messages of one call go out as one notification.
public protocol ServiceNotifier: Sendable {
    func notify(_ messages: [ServiceMessage])
    /// Sends `messages` with `fileDescriptors` attached (SCM_RIGHTS; sd_pid_notify_with_fds(3)),
    /// for `.fdStore`. Returns false when they were not sent: the caller still owns them either way.
    func notify(_ messages: [ServiceMessage], fileDescriptors: [CInt]) -> Bool
}

/// For runs outside systemd and for tests that do not care: nothing is sent, no fd is stored.
public struct NullNotifier: ServiceNotifier {
    public init() {}
    public func notify(_ messages: [ServiceMessage]) {}
    public func notify(_ messages: [ServiceMessage], fileDescriptors: [CInt]) -> Bool { false }
}
