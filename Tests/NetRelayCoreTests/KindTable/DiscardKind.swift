import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
@testable import NetRelayCore

// A fifth kind that exists only in the tests, added through the same table as the four real
// ones (`ListenerKinds.standard.adding(DiscardKind())`): a UDP "discard" service (RFC 863) that
// counts what it receives. Everything a kind is lives here, in one place, as it would in a
// folder of its own under Sources/NetRelayCore/Listeners/.

/// `udp-discard`: receives datagrams and drops them, counting each one.
struct DiscardSpec: ListenerSettings {
    static let kindName = "udp-discard"
    var listen: Endpoint
    /// Longer datagrams are counted as oversize too.
    var maxDatagramSize = 2048

    var boundEndpoint: Endpoint? { listen }
    var transport: Transport { .udp }
    var reusePort: Bool { false }
    var sendsTo: Endpoint? { nil }
    func footprint(eventLoops: Int) -> ListenerFootprint { ListenerFootprint(sockets: 1, storedSockets: 1) }
    var relay: RelayPart { .doesNotRelay }

    func warnings(_ w: inout KindWarnings) {
        if maxDatagramSize < 512 {
            w.warn("maxDatagramSize", "\(maxDatagramSize) bytes is less than most senders send; longer datagrams are counted as oversize")
        }
    }
}

/// The kind's row: keys, decoding, how it runs, what it adds to STATUS= and to the counters.
struct DiscardKind: ListenerKind {
    func decode(_ r: ObjectReader) -> DiscardSpec? {
        let listen = r.required("listen", .endpoint(), example: "\"127.0.0.1:9\"")
        var s = DiscardSpec(listen: listen ?? Endpoint(address: .v4(0), port: 0))
        r.read("maxDatagramSize", .integer(1...ConfigurationDecoder.maxUDPPayload, unit: "bytes"), into: &s.maxDatagramSize)
        return listen == nil ? nil : s
    }

    func makeShared(_ daemon: DaemonResources) -> NothingShared { NothingShared() }
    var families: [ExtraFamily] { [] }

    func listener(name: String, spec: DiscardSpec, context: ListenerContext, shared: NothingShared) -> any Listener {
        DiscardListener(spec: ListenerSpec(name: name, settings: spec), settings: spec, group: context.group)
    }

    func addStatus(_ l: ListenerSnapshot, to status: inout StatusTally) {
        status.addDatagrams(received: l.value(.datagramsIn), sent: 0, dropped: l.dropped)
    }

    var counters: [Counter] { [.datagramsIn, .droppedOversize] }

    var holdsConnections: Bool { false }
}

/// Binds a UDP socket and counts every datagram (and the oversize ones) in its stats.
final class DiscardListener: Listener {
    let spec: ListenerSpec
    let stats = ListenerStats()
    private let settings: DiscardSpec
    private let group: MultiThreadedEventLoopGroup
    private let channel = NIOLockedValueBox<Channel?>(nil)

    init(spec: ListenerSpec, settings: DiscardSpec, group: MultiThreadedEventLoopGroup) {
        self.spec = spec
        self.settings = settings
        self.group = group
    }

    var localAddress: SocketAddress? { channel.withLockedValue { $0?.localAddress } }

    var localDescription: String {
        localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? settings.listen.description
    }

    func start() async throws {
        let (stats, max) = (stats, settings.maxDatagramSize)
        do {
            let ch = try await DatagramBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(DiscardHandler(stats: stats, maxDatagramSize: max))
                    }
                }
                .bind(host: "\(settings.listen.address)", port: settings.listen.port).get()
            channel.withLockedValue { $0 = ch }
        } catch {
            throw ListenerStartError(spec: spec, action: "bind", address: settings.listen.description, error: error)
        }
    }

    func canUpdate(to newSpec: ListenerSpec) -> Bool { false }
    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async -> Bool { false }

    func stopAccepting() async {
        let ch = channel.withLockedValue { ch in defer { ch = nil }; return ch }
        try? await ch?.close()
    }

    func drain(gracePeriod: TimeAmount) async {}
    func revalidate() async throws {}
    func handOver(gracePeriod: TimeAmount) async -> Int { 0 }
    func adoptConnections(_ stored: [InheritedSocket]) async -> Int { 0 }
    var extras: ListenerExtras { .none }
}

/// Counts a datagram and drops it.
final class DiscardHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let stats: ListenerStats
    let maxDatagramSize: Int

    init(stats: ListenerStats, maxDatagramSize: Int) {
        self.stats = stats
        self.maxDatagramSize = maxDatagramSize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let datagram = unwrapInboundIn(data)
        stats.add(.datagramsIn)
        if datagram.data.readableBytes > maxDatagramSize { stats.add(.droppedOversize) }
    }
}
