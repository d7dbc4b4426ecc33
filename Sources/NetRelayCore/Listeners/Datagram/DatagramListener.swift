#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// A listener on one UDP socket (`DatagramSocket`) with one handler per socket: the
/// udp-responder and the broadcast-rebroadcaster, told apart by `Role`. On reload the
/// settings go to the running handler in place; a new socket (after NIO closed one) gets a
/// handler with the settings current then.
final class DatagramListener<Role: DatagramRole>: TypedListener {
    typealias Spec = Role.Spec

    struct Running: Sendable {
        var settings: Role.Settings?
        var handler: NIOLoopBound<Role.Handler>?
        var socket: DatagramSocket?
    }

    let stats: ListenerStats
    let core: ListenerCore<DatagramListener<Role>>
    private let role: Role
    /// Refreshes the settings every `Role.refreshInterval`, while it runs.
    private let refresher = NIOLockedValueBox<Task<Void, Never>?>(nil)

    init(name: String, spec: Spec, context: ListenerContext) {
        let stats = ListenerStats()
        self.stats = stats
        self.role = Role(stats: stats)
        self.core = ListenerCore(name: name, spec: spec, context: context, address: Role.listen(spec).description, running: Running())
    }

    /// The handler of the current socket (for tests).
    var handler: NIOLoopBound<Role.Handler>? { core.running.handler }
    /// The current channel (for tests).
    var channel: Channel? { core.running.socket?.channel }
    /// The settings the handler has (for tests).
    var settings: Role.Settings? { core.running.settings }

    func serve(_ spec: Spec) async throws -> StartReport {
        let erased = core.erasedSpec
        let logger = core.logger
        let settings = try role.settings(for: spec, erased, commit: true)
        core.withState { $0.running.settings = settings }

        let core = self.core
        let stats = self.stats
        let socket = DatagramSocket(
            spec: erased,
            options: Role.socketOptions(spec),
            context: core.context,
            logger: logger,
            initializer: { channel, senderFD in
                guard let current = core.withState({ $0.running.settings }) else {
                    if let senderFD { close(senderFD) }
                    return
                }
                let handler = Role.makeHandler(current, stats: stats, logger: logger, sender: senderFD.map { DatagramSender(fd: $0) })
                try channel.pipeline.syncOperations.addHandler(handler)
                core.withState { $0.running.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
            },
            lastSendError: { core.withState { $0.running.handler }.map { Role.lastSendError(of: $0.value) } ?? nil },
            stats: stats
        )
        let channel = try await socket.start()
        let local = channel.localAddress.flatMap(Endpoint.init)?.description ?? Role.listen(spec).description
        core.withState { $0.running.socket = socket }
        startRefreshing()
        role.report(settings, previous: nil, erased, logger)
        return StartReport(start: .listening(on: local), line: Role.line(spec, settings))
    }

    func canUpdate(from old: Spec, to new: Spec) -> Bool {
        role.canUpdate(from: old, to: new)
    }

    func apply(_ new: Spec, gracePeriod: TimeAmount) async -> ServingLine? {
        let erased = ListenerSpec(name: core.name, settings: new)
        let logger = core.context.logger(for: erased)
        let settings: Role.Settings
        do {
            settings = try role.settings(for: new, erased, commit: true)
        } catch {
            logger.error("\(error); \(Role.keptOnFailedUpdate)", metadata: ["event": "reload-error"])
            return nil
        }
        let (old, previous, socket) = core.withState { s -> (Spec, Role.Settings?, DatagramSocket?) in
            defer {
                s.spec = new
                s.running.settings = settings
            }
            return (s.spec, s.running.settings, s.running.socket)
        }
        let sizing = Role.socketOptions(new).sizing
        if sizing != Role.socketOptions(old).sizing { await socket?.update(sizing: sizing) }
        await applyToHandler(settings)
        role.report(settings, previous: previous, erased, logger)
        return Role.line(new, settings)
    }

    /// A reload that kept the spec: what the spec refers to on the host (interfaces, their
    /// addresses) is resolved again and applied in place when it changed.
    func revalidate() async throws {
        let spec = core.spec
        let erased = core.erasedSpec
        let fresh = try role.settings(for: spec, erased, commit: true)
        let old = core.withState { s -> Role.Settings? in
            defer { s.running.settings = fresh }
            return s.running.settings
        }
        role.report(fresh, previous: old, erased, core.logger)
        guard role.differ(old, fresh) else { return }
        await applyToHandler(fresh)
        role.revalidated(from: old, to: fresh, spec, erased, core.logger)
    }

    func closeSockets() async {
        refresher.withLockedValue { $0?.cancel() }
        await core.running.socket?.stop()
    }

    private func applyToHandler(_ settings: Role.Settings) async {
        let (handler, socket) = core.withState { ($0.running.handler, $0.running.socket) }
        guard let handler, let channel = socket?.channel else { return }
        _ = try? await channel.eventLoop.submit { Role.apply(settings, to: handler.value) }.get()
    }

    // MARK: Refreshing between reloads

    private func startRefreshing() {
        guard let interval = Role.refreshInterval else { return }
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                await self.refresh()
            }
        }
        refresher.withLockedValue { $0 = task }
    }

    private func refresh() async {
        let edit = role.refresh(core.spec)
        let changed = core.withState { s -> Role.Settings? in
            guard var settings = s.running.settings, edit(&settings) else { return nil }
            s.running.settings = settings
            return settings
        }
        if let changed { await applyToHandler(changed) }
    }
}
