#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import NIOPosix

extension TCPEchoListener {
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
        let logger = core.logger
        let (gate, server) = core.withState { ($0.running.gate, $0.running.serverChannel) }
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
        let (gate, channel) = core.withState { ($0.running.gate, $0.running.serverChannel) }
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
}
