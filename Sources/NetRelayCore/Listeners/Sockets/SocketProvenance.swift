import Logging
import NIOCore
import NetRelayConfig

/// Where one socket of a listener comes from when it starts, and where it goes at a restart:
/// the one sequence every kind that binds goes through, whatever the socket is for.
///
/// 1. take the inherited socket for its slot (`listen/NAME`: the socket unit's first, else the
///    previous instance's from the fd store; `listen/NAME/KEY`: the stored one);
/// 2. check it serves the configuration (socket type, bound address); a stored socket that no
///    longer does is discarded (removed from the store and closed) and a new one bound, a
///    socket unit's that does not is an error the operator must fix;
/// 3. adopt it, or bind a new one;
/// 4. store it in the fd store (a socket unit's socket outlives restarts by itself);
/// 5. log "Adopted ..." and count `socketsAdopted` for a stored one.
///
/// The kind supplies the steps that depend on what the socket is (`Steps`): how it adopts an
/// fd, how it binds, and how to reach the fd of what it opened.
struct SocketProvenance: Sendable {
    /// What a kind does at the steps that are its own.
    struct Steps<Socket> {
        /// Serves an inherited socket (checked already); its fd is the kind's from then on.
        var adopt: (InheritedSocket) async throws -> Socket
        /// Binds a new socket.
        var bind: () async throws -> Socket
        /// Calls `body` with the socket's fd (on its event loop if it has to be), returning what
        /// `body` returns; false when the socket has no fd now.
        var withDescriptor: (Socket, @escaping @Sendable (CInt) -> Bool) async -> Bool
    }

    let spec: ListenerSpec
    /// The socket's entry in the fd store.
    let slot: StoredSocketName
    let type: InheritedSocket.SocketType
    let sockets: InheritedSockets
    let store: FileDescriptorStore
    let logger: Logger
    let stats: ListenerStats

    init(spec: ListenerSpec, slot: StoredSocketName, type: InheritedSocket.SocketType, context: ListenerContext, logger: Logger, stats: ListenerStats) {
        self.spec = spec
        self.slot = slot
        self.type = type
        self.sockets = context.sockets
        self.store = context.fdStore
        self.logger = logger
        self.stats = stats
    }

    /// Adopts the inherited socket for this slot, or binds a new one to `listen`; stores it.
    /// Throws `ListenerStartError` ("adopt" with the fd, or "bind" with `listen`).
    func open<Socket>(listen: Endpoint, _ steps: Steps<Socket>) async throws -> Socket {
        var inherited = sockets.take(slot)
        if let stored = inherited, stored.storedEntry != nil, (try? stored.check(serves: spec, as: type, listen: listen)) == nil {
            store.discard(stored, logger: logger, why: "it does not match \(spec.label) any more (bound to \(stored.localAddress?.description ?? "?"))")
            inherited = nil
        }
        guard let inherited else {
            let socket: Socket
            do {
                socket = try await steps.bind()
            } catch let error as ListenerStartError {
                throw error
            } catch {
                throw ListenerStartError(spec: spec, action: "bind", address: listen.description, error: error)
            }
            await keep(socket, steps)
            return socket
        }
        try inherited.check(serves: spec, as: type, listen: listen)
        let socket: Socket
        do {
            socket = try await steps.adopt(inherited)
        } catch {
            // systemd's copy would stay in the store (for a datagram socket in a reuseport group,
            // taking its share of the traffic with no reader) across restarts: let it go.
            if let name = inherited.storedEntry { store.remove(name) }
            throw ListenerStartError(spec: spec, action: "adopt", address: "fd \(inherited.fd)", error: error)
        }
        if inherited.storedEntry != nil { stats.add(.socketsAdopted) }
        logger.info("Adopted \(inherited.logDescription) for \(spec.label)", metadata: ["event": "adopted"])
        // A socket unit's socket outlives restarts by itself; a stored one goes back in.
        if inherited.storedEntry != nil { await keep(socket, steps) }
        return socket
    }

    /// Puts the socket in the fd store (a no-op without one).
    private func keep<Socket>(_ socket: Socket, _ steps: Steps<Socket>) async {
        guard store.enabled else { return }
        let store = self.store, slot = self.slot
        if !(await steps.withDescriptor(socket) { store.store($0, as: slot) }) {
            logger.warning("Could not put the socket of \(spec.label) in systemd's file descriptor store (full, or systemd refused it): a restart closes it", metadata: ["event": "fdstore"])
        }
    }
}

extension SocketProvenance.Steps where Socket == Channel {
    /// For a socket NIO holds as a channel: its fd is reached on the channel's loop.
    init(adopt: @escaping (InheritedSocket) async throws -> Channel, bind: @escaping () async throws -> Channel) {
        self.init(adopt: adopt, bind: bind, withDescriptor: { channel, body in await channel.withDescriptor(body) })
    }
}

extension Channel {
    /// Runs `body` with the channel's fd on its loop (where no read or close can slip in).
    func withDescriptor(_ body: @escaping @Sendable (CInt) -> Bool) async -> Bool {
        let result = try? await eventLoop.submit {
            try self.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self, body) ?? false
        }.get()
        return result == true
    }
}

extension SocketProvenance {
    /// For a socket the listener closes for good while it runs (a reload dropped an interface):
    /// its entry leaves the fd store, so the next instance does not get it.
    func forget() {
        store.remove(slot)
    }
}
