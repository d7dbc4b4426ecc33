#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import NetRelayConfig

/// A `broadcast-rebroadcaster`: a `DatagramListener` with SO_BROADCAST that receives on
/// `listen` and rebroadcasts from the same socket, so rebroadcasts come from the listen port
/// (the classic server sends from its bound socket too).
///
/// An interface target is looked up when the listener starts and again on every reload, even
/// one that leaves the spec unchanged (`revalidate`): the supervisor keeps the socket and the
/// listener swaps the new broadcast address into the handler in place. An interface that no
/// longer resolves fails the reload for this listener, which keeps its previous target.
typealias BroadcastListener = DatagramListener<BroadcastRole>

/// Targets, listenInterfaces, the own-packet guard's addresses and the rebroadcast handler
/// of a broadcast-rebroadcaster.
struct BroadcastRole: DatagramRole {
    let stats: ListenerStats
    /// Each target's counters, kept by label across reloads.
    let targets = RelayTargetTable()

    init(stats: ListenerStats) { self.stats = stats }

    static func listen(_ spec: BroadcastSpec) -> Endpoint { spec.listen }

    static func socketOptions(_ b: BroadcastSpec) -> DatagramSocket.Options {
        // A relay for a subnet's chatter: one datagram per read call is plenty.
        .init(listen: b.listen, reusePort: false, broadcast: true,
              sizing: DatagramReceiveSizing(maxDatagramSize: b.maxDatagramSize, vectorReadCount: 1), relayMark: b.relayMark,
              packetInfo: needsPacketInfo(b))
    }

    /// Resolves the targets and this host's addresses now; throws `ListenerStartError` when the
    /// one target of a single-target rebroadcaster does not resolve. With several targets, one
    /// that does not resolve (interface missing, down, no IPv4 address) is skipped. `commit`
    /// installs the targets in the per-target counters (not for a trial in `canUpdate`).
    func setup(for b: BroadcastSpec, _ spec: ListenerSpec, commit: Bool) throws -> RebroadcastSetup {
        let interfaces = InterfaceAddresses.current()
        let resolution = BroadcastTargetResolver.resolveAll(b.targets, listen: b.listen, interfaces: interfaces,
                                                            skipDown: b.targets.count > 1, indexOf: Self.interfaceIndex)
        if b.targets.count == 1, let row = resolution.rows.first, let reason = row.skipped {
            throw ListenerStartError(spec: spec, action: "point", address: b.target.description, reason: reason, errno: nil)
        }
        var counters: [DestinationCounter?] = Array(repeating: nil, count: resolution.served.count)
        if commit {
            let entries = targets.set(resolution.rows.map { ($0.label, $0.target?.endpoint.description, $0.skipped) })
            counters = zip(resolution.rows, entries).compactMap { $0.0.target == nil ? nil : $0.1 }
        }
        var setup = RebroadcastSetup(b, targets: resolution.served, counters: counters,
                                           ownAddresses: BroadcastTargetResolver.ownAddresses(interfaces, listen: b.listen))
        setup.broadcastDestinations = BroadcastTargetResolver.broadcastDestinations(interfaces)
        if !b.listenInterfaces.isEmpty {
            setup.acceptedInterfaces = Set(b.listenInterfaces.map(Self.interfaceIndex).filter { $0 != 0 })
        }
        setup.resolution = resolution
        // Several targets split their echoes off droppedInKernel (so drop alerts stay quiet on a
        // busy relay); with one target the echo counts there, a drop by the relay mark.
        setup.echoesComeBack = b.targets.count > 1 && b.relayMark > 0
            && (b.listen.address.isUnspecified || setup.broadcastDestinations.contains(b.listen.address))
        setup.missingListenInterfaces = b.listenInterfaces.filter { Self.interfaceIndex($0) == 0 }
        return setup
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

    static func makeHandler(_ setup: RebroadcastSetup, stats: ListenerStats, logger: Logger, sender: DatagramSender?) -> RebroadcastHandler {
        RebroadcastHandler(setup: setup, stats: stats, logger: logger, sender: sender)
    }

    static func apply(_ setup: RebroadcastSetup, to handler: RebroadcastHandler) { handler.apply(setup) }
    static func lastSendError(of handler: RebroadcastHandler) -> String? { handler.lastSendError }

    /// In place whenever the socket can stay (same listen address) and the new target resolves
    /// now; otherwise the supervisor restarts the listener, and a target that does not resolve
    /// fails that start with its reason while the old listener comes back.
    func canUpdate(from old: BroadcastSpec, to new: BroadcastSpec) -> Bool {
        guard new.listen == old.listen, new.maxDatagramSize == old.maxDatagramSize, new.relayMark == old.relayMark,
              Self.needsPacketInfo(new) == Self.needsPacketInfo(old) else { return false }
        let trial = ListenerSpec(name: "", kindSpec: new)
        return (try? setup(for: new, trial, commit: false)) != nil
    }

    static let keptOnFailedUpdate = "keeping the previous target"

    func extras(_ spec: ListenerSpec) -> ListenerExtras { targets.extras(of: spec) }

    /// One socket (its footprint): the listener's limits are this socket's.
    static func share(_ setup: RebroadcastSetup, index: Int, of count: Int) -> RebroadcastSetup { setup }

    func differ(_ old: RebroadcastSetup?, _ fresh: RebroadcastSetup) -> Bool {
        old?.target != fresh.target || old?.ownAddresses != fresh.ownAddresses || old?.targets != fresh.targets
            || old?.broadcastDestinations != fresh.broadcastDestinations || old?.acceptedInterfaces != fresh.acceptedInterfaces
    }

    func revalidated(from old: RebroadcastSetup?, to fresh: RebroadcastSetup, _ b: BroadcastSpec, _ spec: ListenerSpec, _ logger: Logger) {
        guard let old, old.target != fresh.target, b.targets.count == 1 else { return }
        let was = Endpoint(old.target)?.description ?? "\(old.target)"
        logger.notice("\(spec.label): the broadcast target changed from \(was) to \(Self.describeTarget(b, fresh))",
                      metadata: ["event": "target-changed"])
    }

    // MARK: Refreshing the own-packet guard between reloads

    /// How often the own-packet guard's address list is re-read between reloads.
    static let ownAddressRefreshInterval: Duration = .seconds(30)
    static var refreshInterval: Duration? { ownAddressRefreshInterval }

    /// The own-packet guard must know every address our rebroadcasts can come from. An address
    /// that appears between reloads (DHCP, a new alias) would otherwise let our own broadcasts
    /// through once more per pass; with allowLoop, no prefix and no rate limit that is a loop.
    /// The target itself only changes on reload, where an operator expects it to.
    func refresh(_ b: BroadcastSpec) -> (inout RebroadcastSetup) -> Bool {
        let own = BroadcastTargetResolver.ownAddresses(InterfaceAddresses.current(), listen: b.listen)
        return { setup in
            guard setup.ownAddresses != own else { return false }
            setup.ownAddresses = own
            return true
        }
    }
}
