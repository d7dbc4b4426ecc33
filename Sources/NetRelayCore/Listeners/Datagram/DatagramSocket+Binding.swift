#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NetRelayConfig

extension DatagramSocket {
    /// A UDP socket with our options, bound to `address`. SO_REUSEPORT has to be set before
    /// bind. No SO_REUSEADDR: for UDP on Linux it would let a second daemon bind the same port
    /// silently (and take its datagrams) instead of failing with "address already in use".
    static func boundSocket(_ address: SocketAddress, _ options: Options) throws -> CInt {
        let fd = socket(address.protocol.rawValue, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        func fail(_ call: String) -> IOError {
            let e = errno
            close(fd)
            return IOError(errnoCode: e, reason: call)
        }
        var one: CInt = 1
        if options.reusePort, setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<CInt>.size)) != 0 {
            throw fail("setsockopt(SO_REUSEPORT)")
        }
        if options.broadcast, setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, socklen_t(MemoryLayout<CInt>.size)) != 0 {
            throw fail("setsockopt(SO_BROADCAST)")
        }
        if address.withSockAddr({ bind(fd, $0, socklen_t($1)) }) != 0 {
            throw fail("bind")
        }
        return fd
    }
}

/// Reads a socket option of a raw fd.
enum RawSocketOption {
    /// Whether `fd` has SO_REUSEPORT (false when it cannot be read).
    static func reusePort(of fd: CInt) -> Bool {
        var value: CInt = 0
        var len = socklen_t(MemoryLayout<CInt>.size)
        return getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &value, &len) == 0 && value != 0
    }
}
