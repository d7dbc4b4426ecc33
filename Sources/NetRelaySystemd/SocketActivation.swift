#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemd
import NetRelayCore
import NIOCore
import NetRelayConfig

/// Sockets passed by systemd (sd_listen_fds_with_names(3)): socket activation's, by
/// FileDescriptorName=, and the file descriptor store's, by the FDNAME= the previous instance
/// gave them (`StoredSocketName`). A listener adopts the socket named after it; the matching
/// rules are `InheritedSocketPool`'s.
public enum SystemdSockets {
    /// Reads LISTEN_FDS/LISTEN_FDNAMES once and unsets them, so children do not see them.
    public static func inherited() -> [InheritedSocket] {
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
                found.append(InheritedSocket(fd: fd, name: name, type: socketType(fd), localAddress: localAddress(fd)))
            }
            free(names)
        }
        return found
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
