#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemd
import NIOConcurrencyHelpers
import NetRelayCore
import NIOCore

/// Sockets passed by systemd (sd_listen_fds_with_names(3)): socket activation's, by
/// FileDescriptorName=, and the file descriptor store's, by the FDNAME= the previous instance
/// gave them (`StoredSocketName`). A listener adopts the socket named after it; the matching
/// rules are `InheritedSocketPool`'s.
public final class SystemdSockets: InheritedSocketSource {
    private let remaining: NIOLockedValueBox<InheritedSocketPool>

    /// Reads LISTEN_FDS/LISTEN_FDNAMES once and unsets them, so children do not see them.
    public init() {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let n = sd_listen_fds_with_names(1, &names)
        var found: [InheritedSocket] = []
        if n > 0 {
            for i in 0..<Int(n) {
                let fd = SD_LISTEN_FDS_START + Int32(i)
                var name = "unknown"
                if let names, let p = names[i] {
                    name = String(cString: p)
                    free(p)
                }
                found.append(InheritedSocket(fd: fd, name: name, type: Self.socketType(fd), localAddress: Self.localAddress(fd)))
            }
            free(names)
        }
        remaining = NIOLockedValueBox(InheritedSocketPool(found))
    }

    public func take(named name: String) -> InheritedSocket? {
        remaining.withLockedValue { $0.take(named: name) }
    }

    public func takeSibling(of name: String, index: Int) -> InheritedSocket? {
        remaining.withLockedValue { $0.takeSibling(of: name, index: index) }
    }

    public func takeSiblings(of name: String, from index: Int) -> [InheritedSocket] {
        remaining.withLockedValue { $0.takeSiblings(of: name, from: index) }
    }

    public func unclaimed() -> [InheritedSocket] {
        remaining.withLockedValue { $0.unclaimed }
    }

    public func takeConnections(of name: String) -> [InheritedSocket] {
        remaining.withLockedValue { $0.takeConnections(of: name) }
    }

    public func takeStale() -> [InheritedSocket] {
        remaining.withLockedValue { $0.takeStale() }
    }

    static func socketType(_ fd: Int32) -> InheritedSocket.SocketType {
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 else { return .other(-1) }
        switch type {
        case Int32(SOCK_STREAM.rawValue): return .stream
        case Int32(SOCK_DGRAM.rawValue): return .datagram
        default: return .other(type)
        }
    }

    static func localAddress(_ fd: Int32) -> Endpoint? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { return nil }
        let address: SocketAddress
        switch Int32(storage.ss_family) {
        case AF_INET:
            address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: "") } }
        case AF_INET6:
            address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: "") } }
        default:
            return nil
        }
        return Endpoint(address)
    }
}
