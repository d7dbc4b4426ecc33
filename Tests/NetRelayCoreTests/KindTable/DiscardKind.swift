import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
@testable import NetRelayConfig
@testable import NetRelayCore

// A fifth kind that exists only in the tests, added through the same table as the four real
// ones (`ListenerKinds.standard.adding(DiscardKind())`), on the same skeleton (`TypedListener`)
// and the same socket mechanism (`SocketProvenance`): a UDP "discard" service (RFC 863) that
// counts what it receives and, with `forward`, sends each datagram on from its socket (a relay,
// which declares its edge). Everything a kind is lives here, as it would in its own folders.

/// `udp-discard`: receives datagrams and drops them, counting each one; with `forward`, sends
/// each one there too.
struct DiscardSpec: KindSpec {
    static let kindName = "udp-discard"
    var listen: Endpoint
    /// Longer datagrams are counted as oversize too.
    var maxDatagramSize = 2048
    /// Where each datagram is sent on, from the listening socket; nil: nowhere.
    var forward: Endpoint?

    var address: ListenerAddress { .binds(listen, .udp, reusePort: false) }

    func footprint(eventLoops: Int) -> ListenerFootprint { ListenerFootprint(sockets: 1, storedSockets: 1) }

    var relay: RelayPart {
        guard let forward else { return .doesNotRelay }
        return .relays(RelayEdges(
            hears: [RelayEar(listen)],
            outputs: [RelayOutput(port: forward.port, destination: "\(forward)", keyPaths: ["forward"], reaches: RelayReach.address(forward.address))],
            sendsFromWhereItHears: true, dropsOwnEchoes: false,
            advice: LoopAdvice(eachPass: "one more copy each pass", fix: "forward to a port no listener in the loop listens on", optOut: nil)))
    }

    func warnings(_ w: inout ListenerWarnings) {
        if maxDatagramSize < 512 {
            w.warn("maxDatagramSize", "\(maxDatagramSize) bytes is less than most senders send; longer datagrams are counted as oversize")
        }
    }
}

/// The kind's row: keys, decoding, how it runs, what it adds to STATUS= and to the metrics.
struct DiscardKind: ListenerKind {
    func decode(_ r: ObjectReader) -> DiscardSpec? {
        let listen = r.required("listen", .endpoint(), example: "\"127.0.0.1:9\"")
        var s = DiscardSpec(listen: listen ?? Endpoint(address: .v4(0), port: 0))
        r.read("maxDatagramSize", .integer(1...ConfigurationDecoder.maxUDPPayload, unit: "bytes"), into: &s.maxDatagramSize)
        s.forward = r.optional("forward", .endpoint(allowPortZero: false))
        return listen == nil ? nil : s
    }

    func makeShared(_ daemon: DaemonResources) -> NothingShared { NothingShared() }

    func listener(name: String, spec: DiscardSpec, context: ListenerContext, shared: NothingShared) -> any Listener {
        DiscardListener(name: name, spec: spec, context: context)
    }

    func addStatus(_ l: ListenerSnapshot, to status: inout StatusTally) {
        status.addDatagrams(of: l)
    }

    var counters: [Counter] { [.datagramsIn, .droppedOversize, .socketsAdopted] }

    var families: [ExtraFamily] { [DiscardListener.forwardedFamily] }

    var holdsConnections: Bool { false }
}

/// Binds (or adopts) one UDP socket through `SocketProvenance` and counts every datagram.
final class DiscardListener: TypedListener {
    struct Running: Sendable {
        var channel: Channel?
    }

    let stats = ListenerStats()
    let core: ListenerCore<DiscardListener>
    let forwarded = NIOLockedValueBox(0)

    static let forwardedFamily = ExtraFamily(name: "netrelayd_test_forwarded_total", kind: .counter, help: "Datagrams sent on, by destination.", labels: ["to"])

    init(name: String, spec: DiscardSpec, context: ListenerContext) {
        core = ListenerCore(name: name, spec: spec, context: context, address: spec.listen.description, running: Running())
    }

    func serve(_ spec: DiscardSpec) async throws -> StartReport {
        let (stats, forwarded) = (stats, forwarded)
        let bootstrap = DatagramBootstrap(group: core.context.group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(DiscardHandler(stats: stats, maxDatagramSize: spec.maxDatagramSize, forward: spec.forward, forwarded: forwarded))
            }
        }
        let provenance = SocketProvenance(spec: core.erasedSpec, slot: .listener(core.name), type: .datagram, context: core.context, logger: core.logger, stats: stats)
        let channel = try await provenance.open(listen: spec.listen, .init(
            adopt: { try await bootstrap.withBoundSocket($0.fd).get() },
            bind: { try await bootstrap.bind(to: try spec.listen.socketAddress()).get() }
        ))
        core.withState { $0.running.channel = channel }
        return StartReport(address: channel.localAddress.flatMap(Endpoint.init)?.description, line: ServingLine(details: "maxDatagramSize \(spec.maxDatagramSize)"))
    }

    func closeSockets() async {
        try? await core.running.channel?.close()
    }

    func canUpdate(from old: DiscardSpec, to new: DiscardSpec) -> Bool { false }
    func apply(_ new: DiscardSpec, gracePeriod: TimeAmount) async -> ServingLine? { nil }
    func revalidate() async throws {}

    var connections: any ListenerConnections { NoConnections(core) }

    var extras: ListenerExtras {
        guard let to = core.spec.forward else { return .none }
        let n = forwarded.withLockedValue { $0 }
        return ListenerExtras(samples: [ExtraSample(Self.forwardedFamily, labels: ["\(to)"], .count(n))],
                              fields: [StatusField(key: "forwarded", json: "\(n)")], notes: ["forwarded \(n) to \(to)"],
                              statusParts: ["\"\(core.name)\" forwarded \(n)"], statistics: ["forwarded=\(n)"])
    }
}

/// Counts a datagram and drops it, or sends it on.
final class DiscardHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let stats: ListenerStats
    let maxDatagramSize: Int
    let forward: SocketAddress?
    let forwarded: NIOLockedValueBox<Int>

    init(stats: ListenerStats, maxDatagramSize: Int, forward: Endpoint?, forwarded: NIOLockedValueBox<Int>) {
        self.stats = stats
        self.maxDatagramSize = maxDatagramSize
        self.forward = try? forward?.socketAddress()
        self.forwarded = forwarded
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let datagram = unwrapInboundIn(data)
        stats.add(.datagramsIn)
        if datagram.data.readableBytes > maxDatagramSize { stats.add(.droppedOversize) }
        guard let forward else { return }
        forwarded.withLockedValue { $0 += 1 }
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: forward, data: datagram.data)), promise: nil)
    }
}
