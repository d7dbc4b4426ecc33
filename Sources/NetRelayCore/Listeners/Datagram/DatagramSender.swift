#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetRelayShims
import NIOCore
import NetRelayConfig

/// Sends a batch of datagrams with sendmmsg(2) on a duplicate of the listener's socket,
/// beside NIO's write path rather than through it.
///
/// Why: NIO closes a datagram channel when a send fails with any error but EMSGSIZE or
/// EHOSTUNREACH. A reply to a forged source with no route back (ENETUNREACH on a host without a
/// default route, EPERM from a firewall rule, EINVAL from a loopback-bound socket) would then
/// take the whole listener down, and an attacker could keep it down with one datagram per
/// rebind. Here a failed datagram is counted and skipped, and the rest of the batch goes out.
/// A full send buffer (EAGAIN) drops the rest of the batch instead of queueing it: UDP may lose
/// datagrams, a daemon may not grow without bound. It also costs less than NIO's pending-write
/// queue: no promise, no per-datagram bookkeeping, one system call per 64 datagrams.
///
/// Reads stay with NIO (recvmmsg, the pipeline); NIO never writes on this socket, so the two
/// never interleave. Use it on the channel's event loop only.
final class DatagramSender {
    struct Result: Equatable {
        var sent = 0
        /// Dropped because the socket's send buffer was full.
        var wouldBlock = 0
        var failed = 0
        var lastErrno: Int32?
    }

    static let chunk = 64

    private var fd: CInt
    private let headers: UnsafeMutablePointer<CNetRelay_mmsghdr>
    private let iovecs: UnsafeMutablePointer<iovec>
    private let addresses: UnsafeMutablePointer<sockaddr_storage>
    /// One IP_PKTINFO control message per slot, for datagrams pinned to an interface.
    private let controls: UnsafeMutableRawPointer
    private static let controlSpace = Int(CNetRelay_packetInfoSpace())

    /// Takes ownership of `fd` (a dup of the channel's socket) and closes it in `close()` or deinit.
    init(fd: CInt) {
        self.fd = fd
        headers = .allocate(capacity: Self.chunk)
        headers.initialize(repeating: CNetRelay_mmsghdr(), count: Self.chunk)
        iovecs = .allocate(capacity: Self.chunk)
        iovecs.initialize(repeating: iovec(), count: Self.chunk)
        addresses = .allocate(capacity: Self.chunk)
        addresses.initialize(repeating: sockaddr_storage(), count: Self.chunk)
        controls = .allocate(byteCount: Self.chunk * Self.controlSpace, alignment: 8)
        controls.initializeMemory(as: UInt8.self, repeating: 0, count: Self.chunk * Self.controlSpace)
    }

    deinit {
        close()
        headers.deallocate()
        iovecs.deallocate()
        addresses.deallocate()
        controls.deallocate()
    }

    /// The duplicate it sends on (the listener's socket), for socket options and counters.
    var fileDescriptor: CInt { fd }

    func close() {
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
    }

    /// Sends `count` datagrams; datagram `i` is `length(i)` bytes at `base + start(i)`, to `destination(i)`.
    func send(count: Int, base: UnsafeRawPointer, _ datagram: (Int) -> (SocketAddress, start: Int, length: Int)) -> Result {
        send(count: count, base: base, unsent: nil) { i in
            let (a, s, l) = datagram(i)
            return (a, s, l, 0)
        }
    }

    /// The same, and datagram `i` goes out of interface `interfaceIndex(i)` when that is not 0
    /// (IP_PKTINFO; IPv4 sockets only). `unsent` hears the index of every datagram that did not
    /// go (failed or dropped on a full send buffer), for per-target counters.
    func send(count: Int, base: UnsafeRawPointer, unsent: ((Int) -> Void)?,
              _ datagram: (Int) -> (SocketAddress, start: Int, length: Int, interfaceIndex: Int)) -> Result {
        var result = Result()
        guard fd >= 0 else {
            result.failed = count
            result.lastErrno = EBADF
            return result
        }
        var first = 0
        while first < count {
            let n = min(Self.chunk, count - first)
            for j in 0..<n {
                let (address, start, length, interfaceIndex) = datagram(first + j)
                iovecs[j] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base + start), iov_len: length)
                let nameLength = address.withSockAddr { sa, len -> Int in
                    UnsafeMutableRawPointer(addresses + j).copyMemory(from: sa, byteCount: len)
                    return len
                }
                var h = msghdr()
                h.msg_name = UnsafeMutableRawPointer(addresses + j)
                h.msg_namelen = socklen_t(nameLength)
                h.msg_iov = iovecs + j
                h.msg_iovlen = 1
                if interfaceIndex != 0 { CNetRelay_setPacketInfo(&h, controls + j * Self.controlSpace, Int32(interfaceIndex)) }
                headers[j] = CNetRelay_mmsghdr(msg_hdr: h, msg_len: 0)
            }
            var i = 0
            while i < n {
                let r = CNetRelay_sendmmsg(fd, headers + i, UInt32(n - i), Int32(MSG_DONTWAIT))
                if r > 0 {
                    result.sent += Int(r)
                    i += Int(r)
                    continue
                }
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK {
                    result.wouldBlock += count - (first + i)
                    if let unsent { for k in (first + i)..<count { unsent(k) } }
                    return result
                }
                // sendmmsg reports the error of the first datagram it could not send: skip that one.
                unsent?(first + i)
                result.failed += 1
                result.lastErrno = e
                i += 1
            }
            first += n
        }
        return result
    }
}
