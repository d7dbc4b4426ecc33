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
        guard let b = spec.settings(as: BroadcastSpec.self) else { preconditionFailure("not a broadcast-rebroadcaster spec") }
        self.context = context
        self.state = NIOLockedValueBox(State(spec: spec, local: b.listen.description))
    }

    var spec: ListenerSpec { state.withLockedValue { $0.spec } }
    var localDescription: String { state.withLockedValue { $0.local } }

    /// Where rebroadcasts go now.
    var currentTarget: SocketAddress? { state.withLockedValue { $0.settings?.target } }

    /// Resolves the targets and this host's addresses now; throws `ListenerStartError` when the
    /// one target of a single-target rebroadcaster does not resolve. With several targets, one
    /// that does not resolve (interface missing, down, no IPv4 address) is skipped. `commit`
    /// installs the targets in the per-target counters (not for a trial in `canUpdate`).
    private func makeSettings(_ spec: ListenerSpec, _ b: BroadcastSpec, commit: Bool = true) throws -> RebroadcastSettings {
        let interfaces = InterfaceAddresses.current()
        let resolution = BroadcastTargetResolver.resolveAll(b.targets, listen: b.listen, interfaces: interfaces,
                                                            skipDown: b.targets.count > 1, indexOf: Self.interfaceIndex)
        if b.targets.count == 1, let row = resolution.rows.first, let reason = row.skipped {
            throw ListenerStartError(spec: spec, action: "point", address: b.target.description, reason: reason, errno: nil)
        }
        var counters: [RelayTargetTable.Entry?] = Array(repeating: nil, count: resolution.served.count)
        if commit {
            let entries = stats.relayTargets.set(resolution.rows.map { ($0.label, $0.target?.endpoint.description, $0.skipped) })
            counters = zip(resolution.rows, entries).compactMap { $0.0.target == nil ? nil : $0.1 }
        }
        var settings = RebroadcastSettings(b, targets: resolution.served, counters: counters,
                                           ownAddresses: BroadcastTargetResolver.ownAddresses(interfaces, listen: b.listen))
        settings.broadcastDestinations = BroadcastTargetResolver.broadcastDestinations(interfaces)
        if !b.listenInterfaces.isEmpty {
            settings.acceptedInterfaces = Set(b.listenInterfaces.map(Self.interfaceIndex).filter { $0 != 0 })
        }
        settings.resolution = resolution
        // With one target the echo stays in droppedInKernel, as it always was.
        settings.echoesComeBack = b.targets.count > 1 && b.relayMark > 0
            && (b.listen.address.isUnspecified || settings.broadcastDestinations.contains(b.listen.address))
        settings.missingListenInterfaces = b.listenInterfaces.filter { Self.interfaceIndex($0) == 0 }
        return settings
    }

    static func interfaceIndex(_ name: String) -> Int { Int(if_nametoindex(name)) }

    /// Whether the socket must learn each datagram's ingress interface and destination
    /// (IP_PKTINFO): to filter by `listenInterfaces`, and where broadcasts can arrive at all
    /// (a wildcard or broadcast-address listen; a socket bound to a unicast address hears
    /// none, so the ingress rule never applies and the control message would be wasted).
    static func needsPacketInfo(_ b: BroadcastSpec) -> Bool {
        if !b.listenInterfaces.isEmpty || b.listen.address.isUnspecified || b.listen.address.isLimitedBroadcast { return true }
        return InterfaceAddresses.broadcastAddresses(InterfaceAddresses.current()).contains(b.listen.address)
    }

    func start() async throws {
        let spec = self.spec
        guard let b = spec.settings(as: BroadcastSpec.self) else { return }
        let logger = context.logger(for: spec)
        let settings = try makeSettings(spec, b)
        state.withLockedValue { $0.settings = settings }

        let state = self.state
        let stats = self.stats
        let socket = DatagramSocket(
            spec: spec,
            // A relay for a subnet's chatter: one datagram per read call is plenty.
            options: .init(listen: b.listen, reusePort: false, broadcast: true,
                           sizing: DatagramReceiveSizing(maxDatagramSize: b.maxDatagramSize, vectorReadCount: 1), relayMark: b.relayMark,
                           packetInfo: Self.needsPacketInfo(b)),
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
        reportSkipped(settings, logger, previous: nil)
        logger.info(
            "Listening: \(spec.kindName) \"\(spec.name)\" on \(local), rebroadcasting to \(Self.describeTarget(b, settings)) (\(Self.describe(b)))",
            metadata: ["event": "listening", "address": .string(local)]
        )
    }

    static func describeTarget(_ b: BroadcastSpec, _ s: RebroadcastSettings) -> String {
        if b.targets.count > 1, let resolution = s.resolution {
            return zip(b.targets, resolution.rows).map { t, row in
                guard let r = row.target else { return "\(row.label) skipped (\(row.skipped ?? "?"))" }
                if case .interface(let name, _) = t { return "\(r.endpoint) (broadcast address of \(name))" }
                if case .limitedBroadcast(let name, _) = t { return "\(r.endpoint) (limited broadcast out of \(name))" }
                return r.endpoint.description
            }.joined(separator: ", ")
        }
        let resolved = Endpoint(s.target)?.description ?? "\(s.target)"
        if case .interface(let name, _) = b.target { return "\(resolved) (broadcast address of \(name))" }
        return resolved
    }

    /// One warning per skipped target and per listed interface that does not exist: the
    /// operator learns at start and on every reload what is not served.
    private func reportSkipped(_ s: RebroadcastSettings, _ logger: Logger, previous: RebroadcastSettings?) {
        let spec = self.spec
        let before = Dictionary((previous?.resolution?.rows ?? []).map { ($0.label, $0.skipped) }, uniquingKeysWith: { a, _ in a })
        for row in s.resolution?.rows ?? [] {
            if let why = row.skipped {
                if previous != nil, before[row.label] == .some(why) { continue }
                logger.warning("\(spec.label): skipping target \(row.label): \(why); the other targets are served, and this one is looked up again at the next reload",
                               metadata: ["event": "target-skipped", "target": .string(row.label)])
            } else if let was = before[row.label], was != nil, let r = row.target {
                logger.notice("\(spec.label): target \(row.label) is served again: \(r.endpoint)", metadata: ["event": "target-restored", "target": .string(row.label)])
            }
        }
        for name in s.missingListenInterfaces where !(previous?.missingListenInterfaces.contains(name) ?? false) {
            logger.warning("\(spec.label): listenInterfaces: no interface named \(JSONNode.quote(name)) now; datagrams from it are accepted once a reload finds it",
                           metadata: ["event": "interface-missing"])
        }
    }

    static func describe(_ b: BroadcastSpec) -> String {
        var parts: [String] = []
        if !b.prefix.isEmpty { parts.append("prefix \(JSONNode.quote(b.prefix))") }
        if !b.listenInterfaces.isEmpty { parts.append("listenInterfaces \(b.listenInterfaces.joined(separator: ","))") }
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
        guard let new = newSpec.settings(as: BroadcastSpec.self), let old = spec.settings(as: BroadcastSpec.self) else { return false }
        guard new.listen == old.listen, new.maxDatagramSize == old.maxDatagramSize, new.relayMark == old.relayMark,
              Self.needsPacketInfo(new) == Self.needsPacketInfo(old) else { return false }
        return (try? makeSettings(newSpec, new, commit: false)) != nil
    }

    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async {
        guard let b = newSpec.settings(as: BroadcastSpec.self) else { return }
        let logger = context.logger(for: newSpec)
        let settings: RebroadcastSettings
        do {
            settings = try makeSettings(newSpec, b)
        } catch {
            logger.error("\(error); keeping the previous target", metadata: ["event": "reload-error"])
            return
        }
        let previous = state.withLockedValue { s -> RebroadcastSettings? in
            let old = s.settings
            s.spec = newSpec
            s.settings = settings
            return old
        }
        await applyToHandler(settings)
        reportSkipped(settings, logger, previous: previous)
        logger.info("Updated \(newSpec.label) in place: rebroadcasting to \(Self.describeTarget(b, settings)) (\(Self.describe(b)))", metadata: ["event": "updated"])
    }

    func revalidate() async throws {
        let spec = self.spec
        guard let b = spec.settings(as: BroadcastSpec.self) else { return }
        let fresh = try makeSettings(spec, b)
        let old = state.withLockedValue { s -> RebroadcastSettings? in
            let old = s.settings
            s.settings = fresh
            return old
        }
        reportSkipped(fresh, context.logger(for: spec), previous: old)
        guard old?.target != fresh.target || old?.ownAddresses != fresh.ownAddresses || old?.targets != fresh.targets
            || old?.broadcastDestinations != fresh.broadcastDestinations || old?.acceptedInterfaces != fresh.acceptedInterfaces else { return }
        await applyToHandler(fresh)
        if let old, old.target != fresh.target, b.targets.count == 1 {
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
        guard let b = spec.settings(as: BroadcastSpec.self) else { return }
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
