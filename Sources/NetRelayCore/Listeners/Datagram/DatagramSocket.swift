#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetRelayConfig

/// The bound UDP socket of a udp-responder or broadcast-rebroadcaster: creates and binds it
/// (or adopts a socket-activated one) with the listener's options, hands it to NIO for reading,
/// and hands a duplicate of its fd to the channel initializer for a `DatagramSender`.
///
/// The socket is made here rather than by NIO's bind so that we hold that duplicate: replies go
/// out with sendmmsg on it, where a send error costs one datagram (see `DatagramSender`); NIO
/// would close the whole channel over it. Should NIO close the channel anyway, the close is
/// logged and the same address (port 0 resolved to the port we had) is bound again, with a
/// growing delay if it keeps happening. A socket-activated socket is adopted again from a
/// duplicate of the inherited fd that we keep for that purpose.
final class DatagramSocket: Sendable {
    struct Options: Sendable, Equatable {
        var listen: Endpoint
        var reusePort: Bool
        /// SO_BROADCAST (the rebroadcaster sends to a broadcast address).
        var broadcast: Bool
        var sizing: DatagramReceiveSizing
        /// DSCP value marking what we send, and dropped on receive (`RelayMark`); 0: none.
        var relayMark: Int = 0
        /// IP_PKTINFO on receive: each datagram's ingress interface and destination address.
        var packetInfo: Bool = false
        /// SO_REUSEPORT is ours (one socket per loop), not the config's: first check that no
        /// other socket holds the port, which would otherwise join the group without a word.
        var exclusive: Bool = false
    }

    private struct State {
        var options: Options
        /// Where to bind again: the address the first bind got.
        var boundAddress: SocketAddress?
        /// A duplicate of a socket-activated fd, to adopt again after NIO closes its copy.
        var spareFD: CInt?
        /// For an adopted socket: whether it has SO_REUSEPORT (siblings can join it). Nil: bound here.
        var adoptedReusePort: Bool?
        /// The adopted socket came from our fd store (not a socket unit).
        var adoptedFromStore = false
    }

    static let readsPerWakeup: UInt = 1
    /// 50 ms, doubling up to 5 s while the socket keeps closing within 10 s of being bound.
    static let rebindBackoff = Backoff(first: .milliseconds(50), limit: .seconds(5), healthyLifetime: .seconds(10))

    let spec: ListenerSpec
    /// 0: the listener's first (or only) socket, `listen/NAME` in the fd store; K ≥ 1: its Kth
    /// SO_REUSEPORT sibling on another event loop, `listen/NAME/K` (`DatagramSpread`).
    let index: Int
    /// For `socketsAdopted`.
    private let stats: ListenerStats
    private let context: ListenerContext
    private let logger: Logger
    private let state: NIOLockedValueBox<State>
    private let opener: Opener
    /// Binds again after NIO closed the socket; holds the current channel.
    private let reopening: ReopeningSocket<Channel>

    /// `loop`: where the channel goes (nil: the next loop of the daemon's group).
    init(spec: ListenerSpec, options: Options, context: ListenerContext, logger: Logger,
         index: Int = 0, loop: EventLoop? = nil,
         initializer: @escaping @Sendable (Channel, CInt?) throws -> Void,
         lastSendError: @escaping @Sendable () -> String?, stats: ListenerStats) {
        let state = NIOLockedValueBox(State(options: options))
        let opener = Opener(state: state, group: loop ?? context.group, initializer: initializer)
        self.stats = stats
        self.spec = spec
        self.index = index
        self.context = context
        self.logger = logger
        self.state = state
        self.opener = opener
        self.reopening = ReopeningSocket(backoff: Self.rebindBackoff, steps: .init(
            channel: { $0 },
            closed: { delay in
                let why = lastSendError().map { "after a send error: \($0)" } ?? "without a reported error"
                logger.error("NIO closed the socket of \(spec.label) \(why); binding it again in \(formatDuration(Double(delay.nanoseconds) / 1e9))",
                             metadata: ["event": "socket-closed"])
            },
            reopen: { _ in try await opener.bindAgain() },
            reopened: { _ in logger.notice("Bound \(spec.label) again", metadata: ["event": "rebound"]) },
            failed: { error, delay in
                logger.error("Failed to bind \(spec.kindName) \"\(spec.name)\" again: \(describeSocketError(error).0); retrying in \(formatDuration(Double(delay.nanoseconds) / 1e9))",
                             metadata: ["event": "rebind-failed"])
            }
        ))
    }

    var channel: Channel? { reopening.current }
    /// Whether it adopted an inherited socket that has no SO_REUSEPORT (no sibling can join it).
    var adoptedWithoutReusePort: Bool { state.withLockedValue { $0.adoptedReusePort == false } }

    /// For a socket adopted from our own fd store (a previous instance bound it, with one
    /// loop): sets SO_REUSEPORT on it, which lets siblings bound after it join its port (Linux
    /// allows that after the bind). A socket unit's socket is left as the unit made it. True
    /// when siblings can join now.
    func allowSiblings() -> Bool {
        state.withLockedValue { s in
            guard s.adoptedReusePort == false, s.adoptedFromStore, let fd = s.spareFD else { return false }
            var one: CInt = 1
            guard setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<CInt>.size)) == 0 else { return false }
            s.adoptedReusePort = true
            return true
        }
    }
    /// The fd store's name for this socket.
    var storedName: StoredSocketName { index == 0 ? .listener(spec.name) : .socket(spec.name, key: "\(index)") }

    /// Binds (or adopts, `SocketProvenance`) and returns the channel. Throws `ListenerStartError`.
    func start() async throws -> Channel {
        let (listen, options) = state.withLockedValue { ($0.options.listen, $0.options) }
        let provenance = SocketProvenance(spec: spec, slot: storedName, type: .datagram, context: context, logger: logger, stats: stats)
        let state = self.state
        let channel = try await provenance.open(listen: listen, .init(
            adopt: { try await self.adopt($0) },
            bind: { try await self.bindNew(listen, options) },
            // What goes to the store is our spare duplicate: NIO's fd changes at a rebind.
            withDescriptor: { _, body in state.withLockedValue { $0.spareFD }.map(body) ?? false }
        ))
        state.withLockedValue { $0.boundAddress = channel.localAddress }
        guard reopening.install(channel) else {
            try? await channel.close()
            throw ListenerStartError(spec: spec, action: "bind", address: listen.description, reason: "stopped while starting", errno: nil)
        }
        return channel
    }

    /// Opens a socket-activated or stored socket, keeping a duplicate to adopt again.
    private func adopt(_ inherited: InheritedSocket) async throws -> Channel {
        let reusePort = RawSocketOption.reusePort(of: inherited.fd)
        let spare = dup(inherited.fd)
        let channel: Channel
        do {
            channel = try await opener.open(boundSocket: inherited.fd)
        } catch {
            if spare >= 0 { close(spare) }
            throw error
        }
        state.withLockedValue {
            $0.spareFD = spare >= 0 ? spare : nil
            $0.adoptedReusePort = reusePort
            $0.adoptedFromStore = inherited.storedEntry != nil
        }
        return channel
    }

    /// Binds a new socket; with a store, keeps a duplicate for it.
    private func bindNew(_ listen: Endpoint, _ options: Options) async throws -> Channel {
        if options.exclusive, listen.port != 0 {
            // Fails with EADDRINUSE, as a bind without SO_REUSEPORT does, if anything is bound there.
            var probe = options
            probe.reusePort = false
            close(try Self.boundSocket(try listen.socketAddress(), probe))
        }
        let fd = try Self.boundSocket(try listen.socketAddress(), options)
        // With a store, the socket outlives our copy: a rebind must adopt it again, as
        // for a socket-activated one, because binding anew would find the port taken.
        let spare = context.fdStore.enabled ? dup(fd) : -1
        let channel: Channel
        do {
            channel = try await opener.open(boundSocket: fd)
        } catch {
            if spare >= 0 { close(spare) }
            throw error
        }
        if spare >= 0 { state.withLockedValue { $0.spareFD = spare } }
        return channel
    }

    /// Applies new receive sizing to the running socket (a reload that changed
    /// maxDatagramSize or vectorReadCount).
    func update(sizing: DatagramReceiveSizing) async {
        state.withLockedValue { $0.options.sizing = sizing }
        guard let channel = reopening.current else { return }
        // The count first: between the two calls a buffer sized for the old count is cut into
        // the new number of slices, and only a smaller count keeps slices >= maxDatagramSize + 1.
        try? await channel.setOption(.datagramVectorReadMessageCount, value: sizing.vectorReadCount > 1 ? sizing.vectorReadCount : 0).get()
        try? await channel.setOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: sizing.bufferSize)).get()
    }

    /// Closes the socket for good: the port is free when this returns.
    func stop() async {
        let channel = reopening.stop()
        state.withLockedValue { s in
            if let fd = s.spareFD { close(fd) }
            s.spareFD = nil
        }
        try? await channel?.close()
    }

    // MARK: Opening a bound socket

    /// What a new channel needs (the socket's options, the pipeline), apart from the socket, so
    /// that a rebind can open one without the socket object.
    private struct Opener: Sendable {
        let state: NIOLockedValueBox<State>
        /// The daemon's group, or the one loop this socket belongs to.
        let group: any EventLoopGroup
        /// Sets up a new channel's pipeline; every (re)bind gets fresh handlers. The second
        /// argument is a duplicate of the socket's fd for a `DatagramSender`, which then owns
        /// it (nil: none).
        let initializer: @Sendable (Channel, CInt?) throws -> Void

        /// Hands a bound socket to NIO (which owns it from then on) with a duplicate for the sender.
        func open(boundSocket fd: CInt) async throws -> Channel {
            // Here rather than in boundSocket: an adopted or re-adopted socket gets the mark too.
            do {
                try RelayMark.apply(state.withLockedValue { $0.options.relayMark }, to: fd)
            } catch {
                close(fd)
                throw error
            }
            let duplicate = dup(fd)
            let senderFD = NIOLockedValueBox<CInt?>(duplicate >= 0 ? duplicate : nil)
            do {
                return try await bootstrap(senderFD: senderFD).withBoundSocket(fd).get()
            } catch {
                // The initializer did not run (or did not take it): do not leak the duplicate.
                if let left = senderFD.withLockedValue({ v -> CInt? in defer { v = nil }; return v }) { close(left) }
                throw error
            }
        }

        private func bootstrap(senderFD: NIOLockedValueBox<CInt?>) -> DatagramBootstrap {
            let o = state.withLockedValue { $0.options }
            var b = DatagramBootstrap(group: group)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: o.sizing.bufferSize))
                // One recvmmsg per readiness event, as a C epoll server does: NIO's default (4)
                // repeats the call until EAGAIN, a wasted system call per wakeup under ping-pong
                // load; level-triggered epoll reports the socket again if more is queued.
                .channelOption(.maxMessagesPerRead, value: DatagramSocket.readsPerWakeup)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let fd = senderFD.withLockedValue { v -> CInt? in defer { v = nil }; return v }
                        try initializer(channel, fd)
                    }
                }
            if o.packetInfo {
                b = b.channelOption(.receivePacketInfo, value: true)
            }
            if o.sizing.vectorReadCount > 1 {
                b = b.channelOption(.datagramVectorReadMessageCount, value: o.sizing.vectorReadCount)
            }
            return b
        }

        /// A new socket on the address the first bind got (port 0 resolved to the port we
        /// had), or the socket-activated (or stored) one adopted again from our spare duplicate.
        func bindAgain() async throws -> Channel {
            let (address, spare, options) = state.withLockedValue { ($0.boundAddress, $0.spareFD, $0.options) }
            if let spare {
                let fd = dup(spare)
                guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "dup") }
                return try await open(boundSocket: fd)
            }
            let fd = try DatagramSocket.boundSocket(try address ?? options.listen.socketAddress(), options)
            return try await open(boundSocket: fd)
        }
    }
}
