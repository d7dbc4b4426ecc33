#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Wires a `tcp-echo` spec to a NIO server socket: options, the connection gate in the server
/// pipeline, and the idle-timeout and echo handlers in each connection's pipeline.
final class TCPEchoListener: Listener {
    let stats = ListenerStats()
    private let context: ListenerContext
    private let state: NIOLockedValueBox<State>
    /// Read by the child initializer at each accept, so an in-place update applies to the next connection.
    private let childSettings: NIOLockedValueBox<ChildSettings>

    private struct State {
        var spec: ListenerSpec
        var serverChannel: Channel?
        var gate: NIOLoopBound<ConnectionGate>?
        var local: String
    }

    struct ChildSettings: Sendable {
        var spec: TCPEchoSpec
        var logger: Logger
        /// Nil when idleTimeout is 0.
        var idleSweepers: IdleSweepers?

        init(spec: TCPEchoSpec, logger: Logger) {
            self.spec = spec
            self.logger = logger
            self.idleSweepers = spec.idleTimeout > 0 ? IdleSweepers(timeout: .nanoseconds(Int64(spec.idleTimeout * 1e9))) : nil
        }
    }

    init(spec: ListenerSpec, context: ListenerContext) {
        guard let tcp = spec.settings(as: TCPEchoSpec.self) else { preconditionFailure("not a tcp-echo spec") }
        self.context = context
        self.state = NIOLockedValueBox(State(spec: spec, local: tcp.listen.description))
        self.childSettings = NIOLockedValueBox(ChildSettings(spec: tcp, logger: context.logger(for: spec)))
    }

    var spec: ListenerSpec { state.withLockedValue { $0.spec } }
    var localDescription: String { state.withLockedValue { $0.local } }

    func start() async throws {
        let spec = self.spec
        guard let tcp = spec.settings(as: TCPEchoSpec.self) else { return }
        let logger = context.logger(for: spec)
        let stats = self.stats
        let settings = childSettings
        let budget = context.memoryBudget
        let gateBox = NIOLockedValueBox<NIOLoopBound<ConnectionGate>?>(nil)
        let policy = AdmissionPolicy(tcp)
        let label = spec.label

        var bootstrap = ServerBootstrap(group: context.group)
            .serverChannelOption(.backlog, value: Int32(tcp.backlog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let gate = ConnectionGate(policy: policy, stats: stats, logger: logger)
                    // First, so it sees accept()'s errors before anything else and holds its read()s.
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoff(stats: stats, logger: logger, label: label), name: "AcceptBackoff")
                    try channel.pipeline.syncOperations.addHandler(gate, name: "ConnectionGate")
                    gateBox.withLockedValue { $0 = NIOLoopBound(gate, eventLoop: channel.eventLoop) }
                }
            }
            // Echo is request/response: send small replies at once rather than wait for Nagle.
            // (.tcpOption: TCP_NODELAY lives at IPPROTO_TCP; at SOL_SOCKET its number is SO_DEBUG.)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // One 16 KiB receive buffer per connection instead of NIO's pool of up to 4 × 64 KiB.
            .childChannelOption(.recvAllocator, value: EchoReceiveAllocator())
            .childChannelInitializer { channel in
                let current = settings.withLockedValue { $0 }
                return channel.eventLoop.makeCompletedFuture {
                    try TCPEchoListener.configureConnection(channel, current, stats: stats, budget: budget)
                }
            }
        if tcp.reusePort {
            bootstrap = bootstrap.serverChannelOption(ChannelOptions.Types.SocketOption.reusePort, value: 1)
        }
        // On the listening socket, before listen(): accepted sockets inherit the sizes, and the
        // window scale offered in the SYN-ACK is chosen from the receive buffer.
        if let size = tcp.sendBufferSize {
            bootstrap = bootstrap.serverChannelOption(.socketOption(.so_sndbuf), value: size)
        }
        if let size = tcp.receiveBufferSize {
            bootstrap = bootstrap.serverChannelOption(.socketOption(.so_rcvbuf), value: size)
        }

        let channel: Channel
        var inherited = context.sockets.take(named: spec.name)
        if let stored = inherited, stored.storedEntry != nil, (try? Self.checkInherited(stored, for: spec, listen: tcp.listen)) == nil {
            // The previous instance's socket no longer fits the config (the address changed): let it go.
            Self.discardStored(stored, store: context.fdStore, logger: logger, why: "it does not match \(spec.label) any more (bound to \(stored.localAddress?.description ?? "?"))")
            inherited = nil
        }
        if let inherited {
            try Self.checkInherited(inherited, for: spec, listen: tcp.listen)
            do {
                channel = try await bootstrap.withBoundSocket(inherited.fd).get()
            } catch {
                throw ListenerStartError(spec: spec, action: "adopt", address: "fd \(inherited.fd)", error: error)
            }
            if inherited.storedEntry != nil { stats.add(.socketsAdopted) }
            logger.info("Adopted \(inherited.logDescription) for \(spec.label)", metadata: ["event": "adopted"])
        } else {
            do {
                channel = try await bootstrap.bind(to: try tcp.listen.socketAddress()).get()
            } catch {
                throw ListenerStartError(spec: spec, action: "bind", address: tcp.listen.description, error: error)
            }
        }
        // A socket unit's socket outlives restarts by itself; others go into the fd store.
        if inherited == nil || inherited?.storedEntry != nil {
            await Self.storeSocket(of: channel, as: .listener(spec.name), in: context.fdStore, logger: logger)
        }
        let local = channel.localAddress.flatMap(Endpoint.init)?.description ?? tcp.listen.description
        state.withLockedValue {
            $0.serverChannel = channel
            $0.gate = gateBox.withLockedValue { $0 }
            $0.local = local
        }
        logger.info(
            "Listening: \(spec.kindName) \"\(spec.name)\" on \(local) (\(Self.describe(tcp)))",
            metadata: ["event": "listening", "address": .string(local)]
        )
    }

    /// The pipeline of one accepted connection.
    static func configureConnection(_ channel: Channel, _ settings: ChildSettings, stats: ListenerStats, budget: MemoryBudget?) throws {
        let tcp = settings.spec
        let options = channel.syncOptions
        // Only what differs from NIO's defaults (no half-closure, 32/64 KiB marks): each option
        // set costs per connection.
        if tcp.allowHalfOpen {
            try options?.setOption(.allowRemoteHalfClosure, value: true)
        }
        if tcp.writeBufferLowWaterMark != 32 * 1024 || tcp.writeBufferHighWaterMark != 64 * 1024 {
            try options?.setOption(.writeBufferWaterMark, value: .init(low: tcp.writeBufferLowWaterMark, high: tcp.writeBufferHighWaterMark))
        }
        var logger = settings.logger
        if logger.logLevel <= .debug, let peer = channel.remoteAddress.flatMap(Endpoint.init) {
            logger[metadataKey: "peer"] = .string(peer.description)
        }
        let sync = channel.pipeline.syncOperations
        // Named handlers: NIO would otherwise format a name for each, per connection.
        if let sweepers = settings.idleSweepers {
            try sync.addHandler(IdleTimeoutHandler(sweeper: sweepers.sweeper(for: channel.eventLoop), stats: stats, logger: logger), name: "idle")
        }
        try sync.addHandler(TCPEchoHandler(prefix: tcp.replyPrefix, maxQueued: tcp.maxQueuedEcho, stats: stats, logger: logger, budget: budget), name: "echo")
    }

    // MARK: Restart without losing a connection (systemd's file descriptor store)

    /// Puts a duplicate of the channel's socket in the fd store (a no-op without one).
    @discardableResult
    static func storeSocket(of channel: Channel, as name: StoredSocketName, in store: FileDescriptorStore, logger: Logger) async -> Bool {
        guard store.enabled else { return false }
        let stored = try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) { fd in
                store.store(fd, as: name)
            } ?? false
        }.get()
        if stored != true, case .listener = name {
            logger.warning("Could not put the socket of \(name.listenerName) in systemd's file descriptor store (full, or systemd refused it): a restart closes it", metadata: ["event": "fdstore"])
        }
        return stored == true
    }

    /// Removes a stored socket nobody adopts from the store and closes it.
    static func discardStored(_ socket: InheritedSocket, store: FileDescriptorStore, logger: Logger, why: String) {
        if let name = socket.storedEntry { store.remove(name) }
        close(socket.fd)
        logger.notice("Closed fd \(socket.fd) (\(socket.name)) from the previous instance and removed it from the file descriptor store: \(why)", metadata: ["event": "fdstore-removed"])
    }

    /// Takes over the established connections the previous instance stored: each gets this
    /// listener's pipeline and counts against its limits (one over them is closed). Returns how
    /// many were adopted. Call after `start()`.
    func adoptConnections(_ sockets: [InheritedSocket]) async -> Int {
        guard !sockets.isEmpty else { return 0 }
        let spec = self.spec
        let logger = context.logger(for: spec)
        let (gate, server) = state.withLockedValue { ($0.gate, $0.serverChannel) }
        let settings = childSettings
        let stats = self.stats
        let budget = context.memoryBudget
        let store = context.fdStore
        guard let gate, let server else {
            for s in sockets { Self.discardStored(s, store: store, logger: logger, why: "\(spec.label) did not start") }
            return 0
        }
        var adopted = 0
        for socket in sockets {
            guard case .connection = socket.storedEntry, socket.type == .stream else {
                Self.discardStored(socket, store: store, logger: logger, why: "a \(socket.type) socket is not a tcp-echo connection")
                continue
            }
            let bootstrap = ClientBootstrap(group: context.group)
                .channelInitializer { channel in
                    let current = settings.withLockedValue { $0 }
                    return channel.eventLoop.makeCompletedFuture {
                        try TCPEchoListener.configureConnection(channel, current, stats: stats, budget: budget)
                    }
                }
            let child: Channel
            do {
                child = try await bootstrap.withConnectedSocket(socket.fd).get()
            } catch {
                // NIO closes the fd when it fails after taking it; only the store's copy is left.
                if let name = socket.storedEntry { store.remove(name) }
                logger.warning("Could not adopt connection fd \(socket.fd) (\(socket.name)) from the previous instance: \(describeSocketError(error).0); closed", metadata: ["event": "fdstore-removed"])
                continue
            }
            let refusal = try? await server.eventLoop.submit { gate.value.adopt(child) }.get()
            // Ours now: systemd's copy would keep the connection open after we close it.
            if let name = socket.storedEntry { store.remove(name) }
            if let refusal {
                child.close(promise: nil)
                logger.notice("Closed a connection adopted from the previous instance: \(refusal.label)", metadata: ["event": "refused"])
                continue
            }
            adopted += 1
        }
        return adopted
    }

    /// For a restart: every open connection stops reading, delivers what it owes, and goes into
    /// the fd store (no FIN: the next instance carries on with it). Those that do not fit in
    /// the store, or do not flush within `gracePeriod`, are drained as by `drain`. Returns how
    /// many were stored.
    func handOver(gracePeriod: TimeAmount) async -> Int {
        let (gate, channel) = state.withLockedValue { ($0.gate, $0.serverChannel) }
        guard let gate, let channel else { return 0 }
        let store = context.fdStore
        let name = spec.name
        let children = (try? await channel.eventLoop.submit { gate.value.openChannels }.get()) ?? []
        let deadline = NIODeadline.now() + gracePeriod
        var stored = 0
        await withTaskGroup(of: Bool.self) { group in
            for (i, child) in children.enumerated() {
                group.addTask { await Self.handOver(child, as: .connection(name, i), store: store, deadline: deadline) }
            }
            for await ok in group where ok { stored += 1 }
        }
        let left = deadline - .now()
        await drain(gracePeriod: left > .zero ? left : .zero)
        return stored
    }

    private enum HandOverStep: Sendable { case stored, flushing, failed }

    private static func handOver(_ child: Channel, as name: StoredSocketName, store: FileDescriptorStore, deadline: NIODeadline) async -> Bool {
        while true {
            // On the connection's loop, in one go: no read can slip in between the check, the
            // store and the close. NIO's close() is close(2), and systemd holds a duplicate, so
            // the peer sees nothing; the kernel still sends what is in the socket's send queue.
            let step = try? await child.eventLoop.submit { () -> HandOverStep in
                guard child.isActive, let options = child.syncOptions else { return .failed }
                try options.setOption(.autoRead, value: false)
                if try options.getOption(.bufferedWritableBytes) > 0 { return .flushing }
                let ok = try child.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) { fd in
                    store.store(fd, as: name)
                } ?? false
                guard ok else { return .failed }
                child.close(promise: nil)
                return .stored
            }.get()
            switch step {
            case .stored: return true
            case .failed, nil: return false
            case .flushing:
                if .now() >= deadline { return false }
                try? await Task.sleep(nanoseconds: 2_000_000)
            }
        }
    }

    static func describe(_ tcp: TCPEchoSpec) -> String {
        var parts = ["maxConnections \(tcp.maxConnections)"]
        if tcp.maxConnectionsPerSource > 0 { parts.append("maxConnectionsPerSource \(tcp.maxConnectionsPerSource)") }
        if tcp.allowHalfOpen { parts.append("allowHalfOpen") }
        parts.append(tcp.idleTimeout > 0 ? "idleTimeout \(formatSeconds(tcp.idleTimeout)) s" : "no idleTimeout")
        if !tcp.replyPrefix.isEmpty { parts.append("replyPrefix \(JSONNode.quote(tcp.replyPrefix))") }
        if !tcp.allow.isEmpty { parts.append("allow \(tcp.allow.map(\.description).joined(separator: ","))") }
        if !tcp.deny.isEmpty { parts.append("deny \(tcp.deny.map(\.description).joined(separator: ","))") }
        if tcp.reusePort { parts.append("reusePort") }
        if let size = tcp.sendBufferSize { parts.append("sendBufferSize \(size)") }
        if let size = tcp.receiveBufferSize { parts.append("receiveBufferSize \(size)") }
        return parts.joined(separator: ", ")
    }

    static func checkInherited(_ socket: InheritedSocket, for spec: ListenerSpec, listen: Endpoint) throws {
        guard socket.type == .stream else {
            throw ListenerStartError(spec: spec, action: "adopt", address: "fd \(socket.fd)",
                reason: "the socket named \"\(socket.name)\" is a \(socket.type) socket, but \(spec.kindName) needs a stream (TCP) socket; use ListenStream= in the .socket unit", errno: nil)
        }
        if let local = socket.localAddress, listen.port != 0, local != listen {
            throw ListenerStartError(spec: spec, action: "adopt", address: "fd \(socket.fd)",
                reason: "the socket named \"\(socket.name)\" is bound to \(local), but the configuration says \"listen\": \"\(listen)\"; make the .socket unit and the config agree", errno: nil)
        }
    }

    func canUpdate(to newSpec: ListenerSpec) -> Bool {
        guard let new = newSpec.settings(as: TCPEchoSpec.self), let old = spec.settings(as: TCPEchoSpec.self) else { return false }
        return new.listen == old.listen && new.reusePort == old.reusePort && new.backlog == old.backlog
            && new.sendBufferSize == old.sendBufferSize && new.receiveBufferSize == old.receiveBufferSize
    }

    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async {
        guard let tcp = newSpec.settings(as: TCPEchoSpec.self) else { return }
        let logger = context.logger(for: newSpec)
        childSettings.withLockedValue { $0 = ChildSettings(spec: tcp, logger: logger) }
        let (gate, channel) = state.withLockedValue { s -> (NIOLoopBound<ConnectionGate>?, Channel?) in
            s.spec = newSpec
            return (s.gate, s.serverChannel)
        }
        guard let gate, let channel else { return }
        let policy = AdmissionPolicy(tcp)
        // Connections opened under the old settings finish gracefully in the background.
        _ = try? await channel.eventLoop.submit {
            gate.value.policy = policy
            _ = gate.value.quiesceOpenConnections(gracePeriod: gracePeriod)
        }.get()
        logger.info("Updated \(newSpec.label) in place (\(Self.describe(tcp)))", metadata: ["event": "updated"])
    }

    func stopAccepting() async {
        guard let channel = state.withLockedValue({ $0.serverChannel }) else { return }
        try? await channel.close()
    }

    func drain(gracePeriod: TimeAmount) async {
        let (gate, channel) = state.withLockedValue { ($0.gate, $0.serverChannel) }
        guard let gate, let channel else { return }
        let drained = channel.eventLoop.flatSubmit {
            gate.value.quiesceOpenConnections(gracePeriod: gracePeriod)
        }
        try? await drained.get()
    }
}
