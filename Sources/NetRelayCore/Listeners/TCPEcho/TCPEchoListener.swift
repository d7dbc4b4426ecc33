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

/// Wires a `tcp-echo` spec to a NIO server socket: options, the connection gate in the server
/// pipeline, and the idle-timeout and echo handlers in each connection's pipeline.
final class TCPEchoListener: TypedListener {
    let stats = ListenerStats()
    let core: ListenerCore<TCPEchoListener>
    /// Read by the child initializer at each accept, so an in-place update applies to the next connection.
    let connectionSetup: NIOLockedValueBox<ConnectionSetup>
    /// Shared by every tcp-echo connection of the daemon.
    let budget: MemoryBudget

    struct Running: Sendable {
        var serverChannel: Channel?
        var gate: NIOLoopBound<ConnectionGate>?
    }

    struct ConnectionSetup: Sendable {
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

    init(name: String, spec: TCPEchoSpec, context: ListenerContext, budget: MemoryBudget) {
        let core = ListenerCore<TCPEchoListener>(name: name, spec: spec, context: context, address: spec.listen.description, running: Running())
        self.core = core
        self.budget = budget
        self.connectionSetup = NIOLockedValueBox(ConnectionSetup(spec: spec, logger: core.logger))
    }

    var context: ListenerContext { core.context }

    func serve(_ tcp: TCPEchoSpec) async throws -> StartReport {
        let gateBox = NIOLockedValueBox<NIOLoopBound<ConnectionGate>?>(nil)
        let channel = try await bindOrAdopt(tcp, bootstrap(tcp, gateBox))
        let local = channel.localAddress.flatMap(Endpoint.init)?.description ?? tcp.listen.description
        let gate = gateBox.withLockedValue { $0 }
        core.withState {
            $0.running.serverChannel = channel
            $0.running.gate = gate
        }
        return StartReport(address: local, line: ServingLine(details: Self.describe(tcp)))
    }

    /// The server socket's options and pipeline (the gate goes into `gateBox`), and each
    /// connection's.
    private func bootstrap(_ tcp: TCPEchoSpec, _ gateBox: NIOLockedValueBox<NIOLoopBound<ConnectionGate>?>) -> ServerBootstrap {
        let logger = core.logger
        let stats = self.stats
        let setups = connectionSetup
        let budget = self.budget
        let policy = AdmissionPolicy(tcp)
        let label = spec.label
        // Every core: the listening socket lives on one loop and NIO hands each accepted
        // connection to the group's next loop, round robin, so the gate sees every connection
        // and its limits stay listener-wide. Measured against a SO_REUSEPORT socket per loop
        // (docs/performance.md, "Every core").
        var bootstrap = ServerBootstrap(group: context.group, childGroup: context.group)
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
                let current = setups.withLockedValue { $0 }
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
        return bootstrap
    }

    /// Adopts the socket systemd holds for this listener (a socket unit's, or the previous
    /// instance's from the fd store), else binds `listen`; a new one goes into the fd store.
    private func bindOrAdopt(_ tcp: TCPEchoSpec, _ bootstrap: ServerBootstrap) async throws -> Channel {
        let provenance = SocketProvenance(spec: spec, slot: .listener(core.name), type: .stream, context: context, logger: core.logger, stats: stats)
        return try await provenance.open(listen: tcp.listen, .init(
            adopt: { try await bootstrap.withBoundSocket($0.fd).get() },
            bind: { try await bootstrap.bind(to: try tcp.listen.socketAddress()).get() }
        ))
    }

    /// The pipeline of one accepted connection.
    static func configureConnection(_ channel: Channel, _ setup: ConnectionSetup, stats: ListenerStats, budget: MemoryBudget?) throws {
        let tcp = setup.spec
        let options = channel.syncOptions
        // Only what differs from NIO's defaults (no half-closure, 32/64 KiB marks): each option
        // set costs per connection.
        if tcp.allowHalfOpen {
            try options?.setOption(.allowRemoteHalfClosure, value: true)
        }
        if tcp.writeBufferLowWaterMark != 32 * 1024 || tcp.writeBufferHighWaterMark != 64 * 1024 {
            try options?.setOption(.writeBufferWaterMark, value: .init(low: tcp.writeBufferLowWaterMark, high: tcp.writeBufferHighWaterMark))
        }
        var logger = setup.logger
        if logger.logLevel <= .debug, let peer = channel.remoteAddress.flatMap(Endpoint.init) {
            logger[metadataKey: "peer"] = .string(peer.description)
        }
        let sync = channel.pipeline.syncOperations
        // Named handlers: NIO would otherwise format a name for each, per connection.
        if let sweepers = setup.idleSweepers {
            try sync.addHandler(IdleTimeoutHandler(sweeper: sweepers.sweeper(for: channel.eventLoop), stats: stats, logger: logger), name: "idle")
        }
        try sync.addHandler(TCPEchoHandler(prefix: tcp.replyPrefix, maxQueued: tcp.maxQueuedEcho, stats: stats, logger: logger, budget: budget), name: "echo")
    }

    static func describe(_ tcp: TCPEchoSpec) -> String {
        var parts = ["maxConnections \(tcp.maxConnections)"]
        if tcp.maxConnectionsPerSource > 0 { parts.append("maxConnectionsPerSource \(tcp.maxConnectionsPerSource)") }
        if tcp.allowHalfOpen { parts.append("allowHalfOpen") }
        parts.append(tcp.idleTimeout > 0 ? "idleTimeout \(formatSeconds(tcp.idleTimeout)) s" : "no idleTimeout")
        if !tcp.replyPrefix.isEmpty { parts.append("replyPrefix \(JSONString.quote(tcp.replyPrefix))") }
        if !tcp.allow.isEmpty { parts.append("allow \(tcp.allow.map(\.description).joined(separator: ","))") }
        if !tcp.deny.isEmpty { parts.append("deny \(tcp.deny.map(\.description).joined(separator: ","))") }
        if tcp.reusePort { parts.append("reusePort") }
        if let size = tcp.sendBufferSize { parts.append("sendBufferSize \(size)") }
        if let size = tcp.receiveBufferSize { parts.append("receiveBufferSize \(size)") }
        return parts.joined(separator: ", ")
    }

    func canUpdate(from old: TCPEchoSpec, to new: TCPEchoSpec) -> Bool {
        new.listen == old.listen && new.reusePort == old.reusePort && new.backlog == old.backlog
            && new.sendBufferSize == old.sendBufferSize && new.receiveBufferSize == old.receiveBufferSize
    }

    func apply(_ tcp: TCPEchoSpec, gracePeriod: TimeAmount) async -> ServingLine? {
        let (gate, channel) = core.withState { s -> (NIOLoopBound<ConnectionGate>?, Channel?) in
            s.spec = tcp
            return (s.running.gate, s.running.serverChannel)
        }
        connectionSetup.withLockedValue { $0 = ConnectionSetup(spec: tcp, logger: core.logger) }
        guard let gate, let channel else { return nil }
        let policy = AdmissionPolicy(tcp)
        // Connections opened under the old settings finish gracefully in the background.
        _ = try? await channel.eventLoop.submit {
            gate.value.policy = policy
            _ = gate.value.quiesceOpenConnections(gracePeriod: gracePeriod)
        }.get()
        return ServingLine(details: Self.describe(tcp))
    }

    func closeSockets() async {
        guard let channel = core.running.serverChannel else { return }
        try? await channel.close()
    }

    func revalidate() async throws {
        // Nothing outside the configuration: an address and limits.
    }

    var connections: any ListenerConnections {
        TCPEchoConnections(core: core, connectionSetup: connectionSetup, stats: stats, budget: budget)
    }

    /// Its counters say it all (the memory budget is the kind's, `MemoryBudget.statistics`).
    var extras: ListenerExtras { .none }
}
