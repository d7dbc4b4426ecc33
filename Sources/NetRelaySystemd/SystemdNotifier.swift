#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemd
import NetRelayCore
import NIOCore
import NetRelayConfig

/// sd_notify(3): a no-op when NOTIFY_SOCKET is unset (not under systemd).
///
/// For a unix socket address (the only kind systemd gives a service) it keeps one socket open
/// for the daemon's life instead of sd_notify's socket per message: at RLIMIT_NOFILE, sd_notify
/// cannot create its socket, and WATCHDOG=1 and STATUS= would stop exactly when the operator
/// needs them (and a silent watchdog gets the daemon killed). Other addresses (vsock) go through
/// sd_notify.
public final class SystemdNotifier: ServiceNotifier {
    private let fd: Int32
    /// The sockaddr_un bytes, ready for sendto().
    private let address: [UInt8]

    public init() {
        let path = getenv("NOTIFY_SOCKET").map { String(cString: $0) } ?? ""
        guard let first = path.utf8.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else {
            fd = -1
            address = []
            return
        }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // "@name" is an abstract socket: a leading NUL and no terminator.
        if first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        guard bytes.count < capacity else {
            fd = -1
            address = []
            return
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { out in
            for (i, b) in bytes.enumerated() { out[i] = b }
        }
        let length = pathOffset + bytes.count + (first == UInt8(ascii: "@") ? 0 : 1)
        address = withUnsafeBytes(of: &addr) { Array($0.prefix(length)) }
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    public func notify(_ messages: [ServiceMessage]) {
        send(ServiceMessageWire.render(messages))
    }

    private func send(_ message: String) {
        guard fd >= 0 else {
            _ = sd_notify(0, message)
            return
        }
        var text = message
        let sent = text.withUTF8 { body in
            address.withUnsafeBytes { addr in
                sendto(fd, body.baseAddress, body.count, Int32(MSG_NOSIGNAL),
                       addr.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(addr.count))
            }
        }
        if sent < 0 { _ = sd_notify(0, message) }
    }

    /// FDSTORE=1 and friends, with the fds as SCM_RIGHTS (sd_pid_notify_with_fds(3); it opens a
    /// socket per call, which is fine for the few calls at start and at shutdown).
    public func notify(_ messages: [ServiceMessage], fileDescriptors: [CInt]) -> Bool {
        guard getenv("NOTIFY_SOCKET") != nil else { return false }
        let message = ServiceMessageWire.render(messages)
        return fileDescriptors.withUnsafeBufferPointer { fds in
            sd_pid_notify_with_fds(0, 0, message, fds.baseAddress, UInt32(fds.count)) > 0
        }
    }

    /// The watchdog interval systemd asks for (WATCHDOG_USEC, checked against WATCHDOG_PID).
    public static func watchdogInterval() -> TimeAmount? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }
}
