#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NetRelayConfig

/// A listener on UDP sockets (`DatagramSocket`) with one handler per socket: the
/// udp-responder and the broadcast-rebroadcaster, told apart by `Role`. A role that spreads
/// binds one socket per event loop (`DatagramSpread`), else one. On reload the new setup goes to
/// the running handlers in place; a new socket (after NIO closed one) gets a handler with the
/// setup current then.
final class DatagramListener<Role: DatagramRole>: TypedListener {
    typealias Spec = Role.Spec

    struct Running: Sendable {
        var setup: Role.Setup?
        /// Each socket's handler, by the socket's index.
        var handlers: [Int: NIOLoopBound<Role.Handler>] = [:]
        var sockets: [DatagramSocket] = []
        /// How many sockets share the listener-wide limits (`Role.share`).
        var socketCount = 1
    }

    let stats: ListenerStats
    let core: ListenerCore<DatagramListener<Role>>
    private let role: Role
    /// Refreshes the setup every `Role.refreshInterval`, while it runs.
    private let refresher = NIOLockedValueBox<RepeatedTask?>(nil)

    init(name: String, spec: Spec, context: ListenerContext) {
        let stats = ListenerStats()
        self.stats = stats
        self.role = Role(stats: stats)
        self.core = ListenerCore(name: name, spec: spec, context: context, address: Role.listen(spec).description, running: Running())
    }

    /// The handler of the first socket (for tests).
    var handler: NIOLoopBound<Role.Handler>? { core.running.handlers[0] }
    /// The first socket's channel (for tests).
    var channel: Channel? { core.running.sockets.first?.channel }
    /// Every socket's channel (for tests).
    var channels: [Channel] { core.running.sockets.compactMap(\.channel) }
    /// The setup the handler has (for tests).
    var setup: Role.Setup? { core.running.setup }

    func serve(_ spec: Spec) async throws -> StartReport {
        let setup = try role.setup(for: spec, core.erasedSpec, commit: true)
        let loops = Array(core.context.group.makeIterator())
        let count = spec.footprint(eventLoops: loops.count).sockets
        core.withState {
            $0.running.setup = setup
            $0.running.socketCount = count
        }
        var options = Role.socketOptions(spec)
        if count > 1, !options.reusePort {
            options.reusePort = true
            options.exclusive = true
        }
        let primary = makeSocket(index: 0, options: options, loop: count > 1 ? loops[0] : nil)
        let channel = try await primary.start()
        options.exclusive = false
        core.withState { $0.running.sockets = [primary] }
        let local = channel.localAddress.flatMap(Endpoint.init)
        if count > 1 {
            if let local { options.listen = local }
            await startSiblings(options, loops: loops, primary: primary, setup: setup)
        }
        await handOverStaleSiblings()
        startRefreshing()
        role.report(setup, previous: nil, core.erasedSpec, core.logger)
        return StartReport(address: local?.description, line: line(spec, setup))
    }

    /// Binds sockets 1..<N beside `primary` on the further loops, with SO_REUSEPORT on its
    /// port. One that fails ends the attempt: the listener serves on those bound so far (a
    /// warning says why), as it would with fewer loops.
    private func startSiblings(_ options: DatagramSocket.Options, loops: [EventLoop], primary: DatagramSocket, setup: Role.Setup) async {
        let logger = core.logger
        var bound = 1
        if primary.adoptedWithoutReusePort, !primary.allowSiblings() {
            logger.notice("\(core.erasedSpec.label): the inherited socket has no SO_REUSEPORT, so no other socket can share its port: serving it on one event loop of \(loops.count) (ReusePort=yes in the .socket unit lets it use every loop)",
                          metadata: ["event": "one-socket"])
        } else {
            for i in 1..<loops.count {
                let socket = makeSocket(index: i, options: options, loop: loops[i])
                do {
                    _ = try await socket.start()
                } catch {
                    logger.warning("\(error); serving on \(bound) of \(loops.count) event loops", metadata: ["event": "sibling-failed"])
                    break
                }
                core.withState { $0.running.sockets.append(socket) }
                bound += 1
            }
        }
        await steer(count: bound)
        guard bound < loops.count else { return }
        // The sockets bound share the listener-wide limits among fewer.
        core.withState { $0.running.socketCount = bound }
        await applyToHandler(setup)
    }

    /// Keeps each source address on one of the `count` sockets (`SourceSteering`), so that its
    /// per-source limit holds for the listener; without it, up to `count` x rateLimit.
    private func steer(count: Int) async {
        guard count > 1, let channel = core.running.sockets.first?.channel else { return }
        do {
            try await SourceSteering.attach(to: channel, count: count)
        } catch {
            core.logger.warning("\(core.erasedSpec.label): could not attach the source-address steering program (\(error)): the kernel spreads one source's ports over all \(count) sockets, so a source can get up to \(count) x its rateLimit",
                                metadata: ["event": "steering-failed"])
        }
    }

    /// Socket `index` of the listener, on `loop` (nil: the group's next).
    ///
    /// The socket's closures hold `core` weakly: `core` holds the socket (`running.sockets`),
    /// and a strong reference back made a cycle that kept every restarted listener's sockets,
    /// handlers and their buffers (about 30 KiB each) for the daemon's life.
    private func makeSocket(index: Int, options: DatagramSocket.Options, loop: EventLoop?) -> DatagramSocket {
        let core = self.core
        let stats = self.stats
        let logger = core.logger
        return DatagramSocket(
            spec: core.erasedSpec, options: options, context: core.context, logger: logger, index: index, loop: loop,
            initializer: { [weak core] channel, senderFD in
                guard let core, let (current, count) = core.withState({ s in s.running.setup.map { ($0, s.running.socketCount) } }) else {
                    if let senderFD { close(senderFD) }
                    return
                }
                let handler = Role.makeHandler(Role.share(current, index: index, of: count), stats: stats, logger: logger,
                                               sender: senderFD.map { DatagramSender(fd: $0) })
                try channel.pipeline.syncOperations.addHandler(handler)
                core.withState { $0.running.handlers[index] = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
            },
            lastSendError: { [weak core] in core?.withState { $0.running.handlers[index] }.map { Role.lastSendError(of: $0.value) } ?? nil },
            stats: stats
        )
    }

    /// The role's start and update line; with several sockets, it says so.
    private func line(_ spec: Spec, _ setup: Role.Setup) -> ServingLine {
        var line = Role.line(spec, setup)
        let count = core.withState { $0.running.socketCount }
        if count > 1 { line.details += ", \(count) sockets (SO_REUSEPORT, one per event loop)" }
        return line
    }

    func canUpdate(from old: Spec, to new: Spec) -> Bool {
        role.canUpdate(from: old, to: new)
    }

    func apply(_ new: Spec, gracePeriod: TimeAmount) async -> ServingLine? {
        let erased = ListenerSpec(name: core.name, kindSpec: new)
        let logger = core.context.logger(for: erased)
        let setup: Role.Setup
        do {
            setup = try role.setup(for: new, erased, commit: true)
        } catch {
            logger.error("\(error); \(Role.keptOnFailedUpdate)", metadata: ["event": "reload-error"])
            return nil
        }
        let (old, previous, sockets) = core.withState { s -> (Spec, Role.Setup?, [DatagramSocket]) in
            defer {
                s.spec = new
                s.running.setup = setup
            }
            return (s.spec, s.running.setup, s.running.sockets)
        }
        let sizing = Role.socketOptions(new).sizing
        if sizing != Role.socketOptions(old).sizing {
            for socket in sockets { await socket.update(sizing: sizing) }
        }
        await applyToHandler(setup)
        role.report(setup, previous: previous, erased, logger)
        return line(new, setup)
    }

    /// A reload that kept the spec: what the spec refers to on the host (interfaces, their
    /// addresses) is resolved again and applied in place when it changed.
    func revalidate() async throws {
        let spec = core.spec
        let erased = core.erasedSpec
        let fresh = try role.setup(for: spec, erased, commit: true)
        let old = core.withState { s -> Role.Setup? in
            defer { s.running.setup = fresh }
            return s.running.setup
        }
        role.report(fresh, previous: old, erased, core.logger)
        guard role.differ(old, fresh) else { return }
        await applyToHandler(fresh)
        role.revalidated(from: old, to: fresh, spec, erased, core.logger)
    }

    var extras: ListenerExtras { role.extras(core.erasedSpec) }

    /// A datagram's work ends with the read that received it: nothing to drain or hand over.
    var connections: any ListenerConnections { NoConnections(core) }

    func closeSockets() async {
        refresher.withLockedValue { $0?.cancel() }
        for socket in core.running.sockets { await socket.stop() }
        // A stopped listener may be kept a while (a drain, a rollback): not its handlers' buffers.
        core.withState {
            $0.running.sockets = []
            $0.running.handlers = [:]
        }
    }

    /// Gives every socket's handler its share of `setup`, on its loop.
    private func applyToHandler(_ setup: Role.Setup) async {
        let (handlers, sockets, count) = core.withState { ($0.running.handlers, $0.running.sockets, $0.running.socketCount) }
        for socket in sockets {
            guard let handler = handlers[socket.index], let channel = socket.channel else { continue }
            let share = Role.share(setup, index: socket.index, of: count)
            _ = try? await channel.eventLoop.submit { Role.apply(share, to: handler.value) }.get()
        }
    }

    // MARK: Refreshing between reloads

    /// On an event loop's timer, which cancelling removes: a cancelled `Task.sleep` kept its
    /// timer (and about 600 bytes) until the interval was over, 30 s for every restarted listener.
    private func startRefreshing() {
        guard let interval = Role.refreshInterval else { return }
        let delay = TimeAmount.nanoseconds(Int64(interval.components.seconds) * 1_000_000_000 + interval.components.attoseconds / 1_000_000_000)
        let task = core.context.group.next().scheduleRepeatedTask(initialDelay: delay, delay: delay) { [weak self] _ in
            guard let self else { return }
            Task { await self.refresh() }
        }
        refresher.withLockedValue { $0 = task }
    }

    private func refresh() async {
        let edit = role.refresh(core.spec)
        let changed = core.withState { s -> Role.Setup? in
            guard var setup = s.running.setup, edit(&setup) else { return nil }
            s.running.setup = setup
            return setup
        }
        if let changed { await applyToHandler(changed) }
    }
}
