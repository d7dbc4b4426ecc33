#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetRelayShims
import NIOCore
import NetRelayConfig

/// What waits in a bound UDP socket's receive queue, read without blocking: for a stored socket
/// that the new instance does not keep (`eventLoopThreads` lowered across an fd-store restart,
/// so the previous instance had more SO_REUSEPORT siblings), whose datagrams would otherwise be
/// lost with it. Bounded by the queue itself (SO_RCVBUF) and by `limit`.
enum QueuedDatagrams {
    /// Every datagram queued on `fd` now, in order, each cut to `maxSize` bytes, at most `limit`.
    static func drain(_ fd: CInt, maxSize: Int, limit: Int = 1 << 16) -> [AddressedEnvelope<[UInt8]>] {
        var out: [AddressedEnvelope<[UInt8]>] = []
        var buffer = [UInt8](repeating: 0, count: max(1, maxSize))
        while out.count < limit {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT) | Int32(MSG_TRUNC), $0, &length)
                    }
                }
            }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0, let source = address(storage) else { break }
            out.append(AddressedEnvelope(remoteAddress: source, data: Array(buffer.prefix(min(n, buffer.count)))))
        }
        return out
    }

    private static func address(_ storage: sockaddr_storage) -> SocketAddress? {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee) } }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee) } }
        default:
            return nil
        }
    }
}
