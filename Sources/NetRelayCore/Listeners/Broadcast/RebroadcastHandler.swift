import Logging
import NIOCore
import NetRelayConfig

/// What a broadcast-rebroadcaster does with a datagram, as the handler applies it.
struct RebroadcastSetup: FlowSetup {
    var prefix: ByteBuffer?
    /// Where rebroadcasts go: the resolved broadcast address and port.
    var target: SocketAddress
    var maxDatagramSize: Int
    var sourceAllow: [CIDRBlock]
    /// This host's addresses: a datagram from one of them and from our own port is our own
    /// rebroadcast coming back. Loopback addresses always count as ours.
    var ownAddresses: Set<IPAddress>
    /// Per source (`rateLimitMaxSources` of them) and across all sources.
    var limits: FlowLimits
    /// Every target served now (the first is `target`), each with its counters (nil: none).
    var targets: [RelayTarget]
    var targetCounters: [DestinationCounter?]
    /// Destination addresses that mean "arrived as a broadcast" (`IngressRule`).
    var broadcastDestinations: Set<IPAddress> = []
    /// Interface indexes `listenInterfaces` accepts datagrams from; nil: every interface.
    var acceptedInterfaces: Set<Int>?
    /// How the targets were resolved (for log lines; nil in tests that build a setup by hand).
    var resolution: RelayTargetResolution?
    /// `listenInterfaces` names with no interface now (for log lines).
    var missingListenInterfaces: [String] = []
    /// A broadcast to our own port comes back to this socket (wildcard or broadcast-address
    /// bound) and the relay mark drops it in the kernel: counted as an own echo, not a drop.
    var echoesComeBack = false

    /// A rebroadcaster serves one subnet; this bounds its rate-limit table.
    static let rateLimitMaxSources = 4096

    /// Several targets (`targets`), resolved; `counters[i]` counts for `targets[i]`.
    init(_ spec: BroadcastSpec, targets: [RelayTarget], counters: [DestinationCounter?], ownAddresses: Set<IPAddress>) {
        self.init(spec, target: targets.first?.address ?? (try! SocketAddress(ipAddress: "0.0.0.0", port: 0)), ownAddresses: ownAddresses)
        self.targets = targets
        self.targetCounters = counters
    }

    init(_ spec: BroadcastSpec, target: SocketAddress, ownAddresses: Set<IPAddress>) {
        prefix = spec.prefix.isEmpty ? nil : ByteBuffer(string: spec.prefix)
        self.target = target
        let e = Endpoint(target)
        targets = [RelayTarget(label: e?.description ?? "\(target)", endpoint: e ?? Endpoint(address: .v4(0), port: 0), address: target, interfaceIndex: 0, pinned: false)]
        targetCounters = [nil]
        maxDatagramSize = spec.maxDatagramSize
        sourceAllow = spec.sourceAllow
        self.ownAddresses = ownAddresses
        limits = FlowLimits(perSource: RateLimit(rate: spec.rateLimit, burst: spec.rateLimitBurst), maxSources: Self.rateLimitMaxSources,
                            total: RateLimit(rate: spec.totalRateLimit, burst: spec.totalRateLimitBurst))
    }

    func isOwn(_ address: IPAddress) -> Bool {
        let a = address.unmapped
        return a.isLoopback || ownAddresses.contains(a)
    }
}

/// Sends `prefix + payload` of every datagram it receives to the broadcast target, so that every
/// client listening on the target port hears what any one of them sent (the classic
/// `setBroadcast(true)` server).
///
/// It never feeds itself: a socket bound to 0.0.0.0:P hears its own broadcasts to port P, and
/// each pass would add the prefix again, forever. A datagram from one of our own addresses and
/// from our own (sending) port is our rebroadcast coming back, and is dropped. Then, in order:
/// oversize datagrams, sources outside `sourceAllow`, sources over their rate limit, and
/// datagrams over the listener's total rate limit are dropped and counted. Across daemons and
/// hosts, rebroadcasts carry the relay mark and the socket filter drops marked datagrams before
/// they get here (`RelayMark`).
final class RebroadcastHandler: FlowHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    var setup: RebroadcastSetup
    let flow: DatagramFlow
    /// The port we send from (our socket's local port), learnt once the socket is bound.
    private var ownPort: Int?

    init(setup: RebroadcastSetup, stats: ListenerStats, logger: Logger, sender: DatagramSender? = nil, clock: @escaping () -> UInt64 = DatagramFlow.monotonic) {
        self.setup = setup
        flow = DatagramFlow(what: "rebroadcasts", limits: setup.limits, stats: stats, logger: logger, sender: sender, clock: clock)
    }

    func channelActive(context: ChannelHandlerContext) {
        ownPort = context.channel.localAddress?.port
        flow.active(eventLoop: context.eventLoop)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        flow.tally.add(.datagramsIn)
        let source = envelope.remoteAddress
        guard let ip = IPAddress(source), let port = source.port else { return }
        if ownPort == nil { ownPort = context.channel.localAddress?.port }
        if port == ownPort && setup.isOwn(ip) {
            // Expected with allowLoop (our own broadcast comes back once); not worth a log line.
            flow.tally.add(.droppedOwnPacket)
            return
        }
        let info = envelope.metadata?.packetInfo
        if let accepted = setup.acceptedInterfaces, let info, !accepted.contains(info.interfaceIndex) {
            flow.drop(.droppedInterfaceNotListed, from: source, eventLoop: context.eventLoop) { "\($0) came in on interface \(info.interfaceIndex), which is not in listenInterfaces" }
            return
        }
        if flow.dropsOversize(envelope.data.readableBytes, max: setup.maxDatagramSize, from: source, eventLoop: context.eventLoop) { return }
        if !setup.sourceAllow.isEmpty && !setup.sourceAllow.matches(ip) {
            flow.drop(.droppedSourceNotAllowed, from: source, eventLoop: context.eventLoop) { "\($0) is not in sourceAllow" }
            return
        }
        guard flow.admit(ip, from: source, eventLoop: context.eventLoop, limits: setup.limits, unit: "datagrams") else { return }
        let asBroadcast = info.map { IPAddress($0.destinationAddress).map { setup.broadcastDestinations.contains($0) } ?? false } ?? false
        for k in setup.targets.indices {
            let t = setup.targets[k]
            if IngressRule.mustSkip(targetInterface: t.interfaceIndex, targetPort: t.endpoint.port, ingress: info?.interfaceIndex,
                                    arrivedAsBroadcast: asBroadcast, arrivalPort: ownPort) {
                flow.tally.add(.skippedIngressTarget)
                continue
            }
            flow.queue(envelope.data, prefixedWith: setup.prefix, to: t.address, allocator: context.channel.allocator,
                       interfaceIndex: t.sendInterfaceIndex, target: setup.targetCounters[k],
                       echoes: setup.echoesComeBack && t.endpoint.port == ownPort)
        }
    }
}
