#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Wires a `broadcast-rebroadcaster` spec to a UDP socket with SO_BROADCAST: it receives on
/// `listen` and rebroadcasts from the same socket, so rebroadcasts come from the listen port
/// (the classic server sends from its bound socket too).
///
/// An interface target is looked up when the listener starts and again on every reload, even
/// one that leaves the spec unchanged (`revalidate`): the supervisor keeps the socket and this
/// listener swaps the new broadcast address into the handler in place. An interface that no
/// longer resolves fails the reload for this listener, which keeps its previous target.
final class BroadcastListener: Listener {
    let stats = ListenerStats()
    private let context: ListenerContext
    private let state: NIOLockedValueBox<State>
    /// Re-reads this host's addresses now and then (see `refreshOwnAddresses`).
    private let refresher = NIOLockedValueBox<Task<Void, Never>?>(nil)

    /// How often the own-packet guard's address list is re-read between reloads.
    static let ownAddressRefreshInterval: Duration = .seconds(30)

    private struct State {
        var spec: ListenerSpec
        var settings: RebroadcastSettings?
        var handler: NIOLoopBound<RebroadcastHandler>?
        var socket: DatagramSocket?
        var local: String
    }

    init(spec: ListenerSpec, context: ListenerContext) {
        guard case .broadcastRebroadcaster(let b) = spec.kind else { preconditionFailure("not a broadcast-rebroadcaster spec") }
        self.context = context
        self.state = NIOLockedValueBox(State(spec: spec, local: b.listen.description))
    }

    var spec: ListenerSpec { state.withLockedValue { $0.spec } }
    var localDescription: String { state.withLockedValue { $0.local } }

    /// Where rebroadcasts go now.
    var currentTarget: SocketAddress? { state.withLockedValue { $0.settings?.target } }

    /// Resolves the target and this host's addresses now; throws `ListenerStartError`.
    private func makeSettings(_ spec: ListenerSpec, _ b: BroadcastSpec) throws -> RebroadcastSettings {
        let interfaces = InterfaceAddresses.current()
        let target: Endpoint
        switch BroadcastTargetResolver.resolve(b.target, listen: b.listen, interfaces: interfaces) {
        case .success(let e): target = e
        case .failure(let f):
            throw ListenerStartError(spec: spec, action: "point", address: b.target.description, reason: f.reason, errno: nil)
        }
        let address: SocketAddress
        do {
            address = try target.socketAddress()
        } catch {
            throw ListenerStartError(spec: spec, action: "point", address: b.target.description, error: error)
        }
        return RebroadcastSettings(b, target: address, ownAddresses: BroadcastTargetResolver.ownAddresses(interfaces, listen: b.listen))
    }

    func start() async throws {
        let spec = self.spec
        guard case .broadcastRebroadcaster(let b) = spec.kind else { return }
        let logger = context.logger(for: spec)
        let settings = try makeSettings(spec, b)
        state.withLockedValue { $0.settings = settings }

        let state = self.state
        let stats = self.stats
        let socket = DatagramSocket(
            spec: spec,
            // A relay for a subnet's chatter: one datagram per read call is plenty.
            options: .init(listen: b.listen, reusePort: false, broadcast: true,
                           sizing: DatagramReceiveSizing(maxDatagramSize: b.maxDatagramSize, vectorReadCount: 1), relayMark: b.relayMark),
            context: context,
            logger: logger,
            initializer: { channel, senderFD in
                guard let current = state.withLockedValue({ $0.settings }) else {
                    if let senderFD { close(senderFD) }
                    return
                }
                let handler = RebroadcastHandler(settings: current, stats: stats, logger: logger, sender: senderFD.map { DatagramSender(fd: $0) })
                try channel.pipeline.syncOperations.addHandler(handler)
                state.withLockedValue { $0.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
            },
            lastSendError: { state.withLockedValue { $0.handler }?.value.lastSendError },
            stats: stats
        )
        let channel = try await socket.start()
        let local = channel.localAddress.flatMap(Endpoint.init)?.description ?? b.listen.description
        state.withLockedValue {
            $0.socket = socket
            $0.local = local
        }
        startRefreshing()
        logger.info(
            "Listening: \(spec.kindName) \"\(spec.name)\" on \(local), rebroadcasting to \(Self.describeTarget(b, settings)) (\(Self.describe(b)))",
            metadata: ["event": "listening", "address": .string(local)]
        )
    }

    static func describeTarget(_ b: BroadcastSpec, _ s: RebroadcastSettings) -> String {
        let resolved = Endpoint(s.target)?.description ?? "\(s.target)"
        if case .interface(let name, _) = b.target { return "\(resolved) (broadcast address of \(name))" }
        return resolved
    }

    static func describe(_ b: BroadcastSpec) -> String {
        var parts: [String] = []
        if !b.prefix.isEmpty { parts.append("prefix \(JSONNode.quote(b.prefix))") }
        if !b.sourceAllow.isEmpty { parts.append("sourceAllow \(b.sourceAllow.map(\.description).joined(separator: ","))") }
        parts.append(b.rateLimit > 0 ? "rateLimit \(formatSeconds(b.rateLimit))/s per source, burst \(b.rateLimitBurst)" : "no rateLimit")
        parts.append("maxDatagramSize \(b.maxDatagramSize)")
        if b.allowLoop { parts.append("allowLoop (own rebroadcasts are dropped when they come back)") }
        parts.append(b.totalRateLimit > 0 ? "totalRateLimit \(formatSeconds(b.totalRateLimit))/s, burst \(b.totalRateLimitBurst)" : "no totalRateLimit")
        parts.append(b.relayMark > 0 ? "relayMark \(b.relayMark)" : "no relayMark")
        return parts.joined(separator: ", ")
    }

    /// In place whenever the socket can stay (same listen address) and the new target resolves
    /// now; otherwise the supervisor restarts the listener, and a target that does not resolve
    /// fails that start with its reason while the old listener comes back.
    func canUpdate(to newSpec: ListenerSpec) -> Bool {
        guard case .broadcastRebroadcaster(let new) = newSpec.kind, case .broadcastRebroadcaster(let old) = spec.kind else { return false }
        guard new.listen == old.listen, new.maxDatagramSize == old.maxDatagramSize, new.relayMark == old.relayMark else { return false }
        return (try? makeSettings(newSpec, new)) != nil
    }

    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async {
        guard case .broadcastRebroadcaster(let b) = newSpec.kind else { return }
        let logger = context.logger(for: newSpec)
        let settings: RebroadcastSettings
        do {
            settings = try makeSettings(newSpec, b)
        } catch {
            logger.error("\(error); keeping the previous target", metadata: ["event": "reload-error"])
            return
        }
        state.withLockedValue {
            $0.spec = newSpec
            $0.settings = settings
        }
        await applyToHandler(settings)
        logger.info("Updated \(newSpec.label) in place: rebroadcasting to \(Self.describeTarget(b, settings)) (\(Self.describe(b)))", metadata: ["event": "updated"])
    }

    func revalidate() async throws {
        let spec = self.spec
        guard case .broadcastRebroadcaster(let b) = spec.kind else { return }
        let fresh = try makeSettings(spec, b)
        let old = state.withLockedValue { s -> RebroadcastSettings? in
            let old = s.settings
            s.settings = fresh
            return old
        }
        guard old?.target != fresh.target || old?.ownAddresses != fresh.ownAddresses else { return }
        await applyToHandler(fresh)
        if let old, old.target != fresh.target {
            let was = Endpoint(old.target)?.description ?? "\(old.target)"
            context.logger(for: spec).notice(
                "\(spec.label): the broadcast target changed from \(was) to \(Self.describeTarget(b, fresh))",
                metadata: ["event": "target-changed"]
            )
        }
    }

    /// The own-packet guard must know every address our rebroadcasts can come from. An address
    /// that appears between reloads (DHCP, a new alias) would otherwise let our own broadcasts
    /// through once more per pass; with allowLoop, no prefix and no rate limit that is a loop.
    /// The target itself only changes on reload, where an operator expects it to.
    private func startRefreshing() {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: BroadcastListener.ownAddressRefreshInterval)
                guard let self, !Task.isCancelled else { return }
                await self.refreshOwnAddresses()
            }
        }
        refresher.withLockedValue { $0 = task }
    }

    private func refreshOwnAddresses() async {
        guard case .broadcastRebroadcaster(let b) = spec.kind else { return }
        let own = BroadcastTargetResolver.ownAddresses(InterfaceAddresses.current(), listen: b.listen)
        let changed = state.withLockedValue { s -> RebroadcastSettings? in
            guard var settings = s.settings, settings.ownAddresses != own else { return nil }
            settings.ownAddresses = own
            s.settings = settings
            return settings
        }
        if let changed { await applyToHandler(changed) }
    }

    private func applyToHandler(_ settings: RebroadcastSettings) async {
        guard let handler = state.withLockedValue({ $0.handler }), let channel = state.withLockedValue({ $0.socket?.channel }) else { return }
        _ = try? await channel.eventLoop.submit { handler.value.apply(settings) }.get()
    }

    func stopAccepting() async {
        refresher.withLockedValue { $0?.cancel() }
        await state.withLockedValue { $0.socket }?.stop()
    }

    func drain(gracePeriod: TimeAmount) async {}
}
