#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetRelayShims
import NIOCore

/// The mark that keeps a rebroadcast from being rebroadcast again, across daemons and hosts:
/// everything a rebroadcaster or responder sends carries a DSCP value (the IP header's TOS /
/// traffic class byte, as udpbroadcastrelay's `--id` does), and a socket filter drops every
/// datagram that arrives with the same value before it reaches the receive queue.
///
/// Why a kernel filter rather than reading the TOS byte per datagram: NIO reads the socket
/// (recvmmsg) and keeps only the ECN bits of IP_TOS, so user space cannot see the DSCP without
/// replacing NIO's read path; the filter costs the daemon nothing per datagram (no wake-up, no
/// copy for a dropped one). It is counted from the socket's kernel drop counter
/// (`KernelDropCounter`), which also counts datagrams lost to a full receive queue.
///
/// Why not TTL: a TTL marker changes at every router and is easily confused with a sender's own
/// TTL; DSCP is kept across a LAN (broadcasts never cross a router anyway) and is what the
/// established relay uses. The default value 5 is in DSCP pool 3 (experimental and local use)
/// and has precedence 0, so Wi-Fi (WMM) still queues it as best effort.
public enum RelayMark {
    public static let defaultValue = 5

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
