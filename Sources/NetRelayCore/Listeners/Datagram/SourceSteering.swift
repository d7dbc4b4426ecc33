#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetRelayShims
import NIOCore
import NetRelayConfig

/// Keeps one source address on one socket of a SO_REUSEPORT group. By itself the kernel picks
/// the socket by a hash of the 4-tuple, so one address with many source ports (a forged victim
/// address with random ports) reaches every socket, and each socket's per-source table would
/// give it the full `rateLimit`: N x rateLimit in all. A classic BPF program on the group
/// (SO_ATTACH_REUSEPORT_CBPF, `CNetRelay_sourceSteering`) picks the socket from the source
/// address only (IPv4: the address; IPv6: its /64, as `TokenBucketTable.key`), modulo the number
/// of sockets bound. An index past the group's size (a sibling closed since) falls back to the hash.
enum SourceSteering {
    /// A `sock_fprog` to hand to NIO; its filter stays allocated until the option is set.
    private struct Program: @unchecked Sendable {
        var prog: CNetRelay_sockFprog
    }

    /// The program's instructions for `count` sockets (for tests).
    static func instructions(count: Int) -> [CNetRelay_sockFilter] {
        var code = [CNetRelay_sockFilter](repeating: CNetRelay_sockFilter(), count: Int(CNETRELAY_STEERING_MAX))
        let n = CNetRelay_sourceSteering(UInt32(max(1, count)), &code, UInt32(code.count))
        return Array(code.prefix(Int(n)))
    }

    /// Attaches the program for `count` sockets to the group of `channel`'s socket.
    static func attach(to channel: Channel, count: Int) async throws {
        guard let provider = channel as? SocketOptionProvider else {
            throw IOError(errnoCode: EOPNOTSUPP, reason: "setsockopt(SO_ATTACH_REUSEPORT_CBPF)")
        }
        let code = instructions(count: count)
        let filter = UnsafeMutablePointer<CNetRelay_sockFilter>.allocate(capacity: code.count)
        defer { filter.deallocate() }
        filter.initialize(from: code, count: code.count)
        let program = Program(prog: CNetRelay_sockFprog(len: UInt16(code.count), filter: filter))
        try await provider.unsafeSetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(CNetRelay_reuseportCBPFOption()),
                                                 value: program).get()
    }
}
