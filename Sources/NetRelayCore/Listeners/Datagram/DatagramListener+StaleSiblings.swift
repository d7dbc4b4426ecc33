import NIOCore
import NetRelayConfig

extension DatagramListener {
    /// The previous instance had more sockets on this port (`eventLoopThreads` lowered across an
    /// fd-store restart): systemd hands back `listen/NAME/K` for K past the sockets kept now.
    /// Closing them would drop the datagrams queued in them while no instance was reading, so
    /// first the steering program is attached for the sockets kept (from then on the kernel
    /// queues nothing more in the others), then each one's queue is read and handed to the
    /// first socket's handler as if it had received it (answered from the same port, counted
    /// and rate-limited as usual), and the socket is closed and removed from the store.
    func handOverStaleSiblings() async {
        let (kept, first) = core.withState { ($0.running.sockets.count, $0.running.sockets.first?.channel) }
        let stale = core.context.sockets.takeSockets(of: core.name) { Int($0).map { $0 >= max(1, kept) } ?? false }
        guard !stale.isEmpty else { return }
        let logger = core.logger
        if let first {
            // With one socket left no program was attached, and the previous one still spreads over N.
            do {
                try await SourceSteering.attach(to: first, count: kept)
            } catch {
                logger.warning("\(core.erasedSpec.label): could not attach the steering program for \(kept) socket(s) (\(error)); datagrams that reach the closing sockets meanwhile are lost",
                               metadata: ["event": "steering-failed"])
            }
        }
        let maxSize = Role.socketOptions(core.spec).sizing.sliceSize
        for socket in stale {
            let queued = QueuedDatagrams.drain(socket.fd, maxSize: maxSize)
            var handed = 0
            if let first, !queued.isEmpty {
                handed = (try? await first.eventLoop.submit { () -> Int in
                    let pipeline = first.pipeline.syncOperations
                    for datagram in queued {
                        let envelope = AddressedEnvelope(remoteAddress: datagram.remoteAddress, data: first.allocator.buffer(bytes: datagram.data))
                        pipeline.fireChannelRead(NIOAny(envelope))
                    }
                    pipeline.fireChannelReadComplete()
                    return queued.count
                }.get()) ?? 0
            }
            let what = handed == queued.count
                ? "its \(handed) queued datagram(s) went to the first socket"
                : "\(queued.count - handed) of its \(queued.count) queued datagram(s) are lost (the first socket is closed)"
            core.context.fdStore.discard(socket, logger: logger,
                                         why: "\(core.erasedSpec.label) keeps \(kept) socket(s) now (eventLoopThreads); \(what)")
        }
    }
}
