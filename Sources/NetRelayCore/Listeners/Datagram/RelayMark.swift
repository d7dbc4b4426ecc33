#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetRelayShims
import NIOCore
import NetRelayConfig

/// Applying the relay mark (`RelayMark`, whose default is a configuration fact) to a socket.
extension RelayMark {
    /// Marks what `fd` sends with `dscp` and drops what arrives marked with it; nothing for 0.
    static func apply(_ dscp: Int, to fd: CInt) throws {
        guard dscp > 0 else { return }
        let step = CNetRelay_setRelayMark(fd, CInt(dscp))
        guard step != 0 else { return }
        let call = ["setsockopt(IP_TOS)", "setsockopt(IPV6_TCLASS)", "setsockopt(SO_ATTACH_FILTER)", "getsockopt(SO_DOMAIN)"]
        throw IOError(errnoCode: errno, reason: call[Int(step) - 1] + " for relayMark \(dscp)")
    }
}

/// Turns the socket's kernel drop counter into `droppedInKernel`: read every second on the
/// channel's event loop (one getsockopt, not a cost per datagram), and once more when the
/// channel goes away.
final class KernelDropCounter {
    private let fd: CInt
    private let stats: ListenerStats
    private var last: Int64
    private var task: RepeatedTask?
    /// Broadcasts we sent since the last poll whose copy the host loops back to this socket,
    /// where the relay mark drops it (`expectEchoes`).
    private var pendingEchoes = 0

    static let interval = TimeAmount.seconds(1)

    /// `fd` stays owned by the caller (the `DatagramSender`'s duplicate, the same socket).
    init?(fd: CInt, stats: ListenerStats) {
        let now = CNetRelay_socketDrops(fd)
        guard now >= 0 else { return nil }
        self.fd = fd
        self.stats = stats
        self.last = now
    }

    func start(on eventLoop: EventLoop) {
        task = eventLoop.scheduleRepeatedTask(initialDelay: Self.interval, delay: Self.interval) { [weak self] _ in
            self?.poll()
        }
    }

    func poll() {
        let now = CNetRelay_socketDrops(fd)
        guard now >= 0 else { return }
        // 32-bit kernel counter: a wrap shows as a smaller value.
        let delta = now >= last ? now - last : now + (1 << 32) - last
        last = now
        // Our own echoes arrive within microseconds of the send (the loopback runs in the
        // sending call's softirq), so those of this second are in `delta`; what is left over
        // is forgotten rather than allowed to hide later drops.
        let own = min(Int(delta), pendingEchoes)
        pendingEchoes = 0
        if own > 0 { stats.add(.ownEchoesDroppedInKernel, own) }
        if Int(delta) > own { stats.add(.droppedInKernel, Int(delta) - own) }
    }

    /// `n` broadcasts went out that come back to this socket (to our own port), marked.
    func expectEchoes(_ n: Int) {
        pendingEchoes += n
    }

    func stop() {
        task?.cancel()
        task = nil
        poll()
    }
}
