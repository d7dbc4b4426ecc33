import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetRelayConfig

/// A tcp-echo listener's connections at a stop and a restart: they drain (in-flight echoes
/// delivered), or go to systemd's file descriptor store and come back in the next instance
/// with this listener's pipeline, counted against its limits.
struct TCPEchoConnections: ListenerConnections {
    let core: ListenerCore<TCPEchoListener>
    /// Read when a connection is adopted, as at an accept.
    let connectionSetup: NIOLockedValueBox<TCPEchoListener.ConnectionSetup>
    let stats: ListenerStats
    let budget: MemoryBudget

    private var running: (gate: NIOLoopBound<ConnectionGate>, server: Channel)? {
        core.withState { s in s.running.gate.flatMap { gate in s.running.serverChannel.map { (gate, $0) } } }
    }

    /// Lets open connections finish their in-flight echoes for up to `gracePeriod`.
    func drain(gracePeriod: TimeAmount) async {
        guard let (gate, server) = running else { return }
        try? await server.eventLoop.flatSubmit { gate.value.quiesceOpenConnections(gracePeriod: gracePeriod) }.get()
    }

    /// Each open connection stops reading, delivers what it owes and goes into the fd store.
    /// Those that do not fit in the store, or do not flush within `gracePeriod`, drain.
    func handOver(gracePeriod: TimeAmount) async -> Int {
        guard let (gate, server) = running else { return 0 }
        let store = core.context.fdStore
        let name = core.name
        let children = (try? await server.eventLoop.submit { gate.value.openChannels }.get()) ?? []
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

    /// Each stored connection gets this listener's pipeline and counts against its limits (one
    /// over them is closed). Returns how many were adopted.
    func adopt(_ sockets: [InheritedSocket]) async -> Int {
        let label = core.erasedSpec.label
        let logger = core.logger
        let store = core.context.fdStore
        guard let (gate, server) = running else {
            for s in sockets { store.discard(s, logger: logger, why: "\(label) did not start") }
            return 0
        }
        let setups = connectionSetup
        let stats = self.stats
        let budget = self.budget
        var adopted = 0
        for socket in sockets {
            guard case .connection = socket.storedEntry, socket.type == .stream else {
                store.discard(socket, logger: logger, why: "a \(socket.type) socket is not a tcp-echo connection")
                continue
            }
            let bootstrap = ClientBootstrap(group: core.context.group)
                .channelInitializer { channel in
                    let current = setups.withLockedValue { $0 }
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
}
