import Logging
import NIOCore

/// What a broadcast-rebroadcaster does with a datagram, as the handler applies it.
struct RebroadcastSettings: Sendable {
    var prefix: ByteBuffer?
    /// Where rebroadcasts go: the resolved broadcast address and port.
    var target: SocketAddress
    var maxDatagramSize: Int
    var sourceAllow: [CIDRBlock]
    /// This host's addresses: a datagram from one of them and from our own port is our own
    /// rebroadcast coming back. Loopback addresses always count as ours.
    var ownAddresses: Set<IPAddress>
    var rateLimit: Double
    var rateLimitBurst: Int

    /// A rebroadcaster serves one subnet; this bounds its rate-limit table.
    static let rateLimitMaxSources = 4096

    init(_ spec: BroadcastSpec, target: SocketAddress, ownAddresses: Set<IPAddress>) {
        prefix = spec.prefix.isEmpty ? nil : ByteBuffer(string: spec.prefix)
        self.target = target
        maxDatagramSize = spec.maxDatagramSize
        sourceAllow = spec.sourceAllow
        self.ownAddresses = ownAddresses
        rateLimit = spec.rateLimit
        rateLimitBurst = spec.rateLimitBurst
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
/// oversize datagrams, sources outside `sourceAllow`, and sources over their rate limit are
/// dropped and counted.
final class RebroadcastHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private(set) var settings: RebroadcastSettings
    private var limiter: TokenBucketTable?
    private let batch: DatagramBatch
    private var tally = DatagramTally()
    private let stats: ListenerStats
    private let logger: Logger
    private let drops: SummaryReporter
    private let clock: () -> UInt64
    private var batchNow: UInt64?
    /// The port we send from (our socket's local port), learnt once the socket is bound.
    private var ownPort: Int?

    init(settings: RebroadcastSettings, stats: ListenerStats, logger: Logger,
         sender: DatagramSender? = nil, clock: @escaping () -> UInt64 = { NIODeadline.now().uptimeNanoseconds }) {
        self.settings = settings
        self.stats = stats
        self.logger = logger
        self.clock = clock
        self.drops = SummaryReporter(logger: logger, event: "dropped", what: "datagrams dropped")
        self.batch = DatagramBatch(sender: sender, stats: stats, drops: drops,
                                   failures: SummaryReporter(logger: logger, event: "send-error", what: "send errors"), what: "rebroadcasts")
        self.limiter = Self.makeLimiter(settings)
    }

    private static func makeLimiter(_ s: RebroadcastSettings) -> TokenBucketTable? {
        s.rateLimit > 0 ? TokenBucketTable(rate: s.rateLimit, burst: s.rateLimitBurst, maxSources: RebroadcastSettings.rateLimitMaxSources) : nil
    }

    func apply(_ new: RebroadcastSettings) {
        if new.rateLimit > 0, limiter != nil {
            limiter!.reconfigure(rate: new.rateLimit, burst: new.rateLimitBurst, maxSources: RebroadcastSettings.rateLimitMaxSources)
        } else {
            limiter = Self.makeLimiter(new)
        }
        settings = new
    }

    func channelActive(context: ChannelHandlerContext) {
        ownPort = context.channel.localAddress?.port
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        tally.add(.datagramsIn)
        let source = envelope.remoteAddress
        guard let ip = IPAddress(source), let port = source.port else { return }
        if ownPort == nil { ownPort = context.channel.localAddress?.port }
        if port == ownPort && settings.isOwn(ip) {
            // Expected with allowLoop (our own broadcast comes back once); not worth a log line.
            tally.add(.droppedOwnPacket)
            return
        }
        if envelope.data.readableBytes > settings.maxDatagramSize {
            drop(.droppedOversize, from: source, context: context) { "\($0) sent a datagram larger than maxDatagramSize (\(self.settings.maxDatagramSize) bytes)" }
            return
        }
        if !settings.sourceAllow.isEmpty && !settings.sourceAllow.matches(ip) {
            drop(.droppedSourceNotAllowed, from: source, context: context) { "\($0) is not in sourceAllow" }
            return
        }
        if limiter != nil {
            let now = batchNow ?? clock()
            batchNow = now
            if !limiter!.take(ip, now: now) {
                drop(.droppedRateLimited, from: source, context: context) {
                    "\($0) is over the rate limit (\(formatSeconds(self.settings.rateLimit)) datagrams/s, burst \(self.settings.rateLimitBurst))"
                }
                return
            }
        }
        batch.queue(envelope.data, prefixedWith: settings.prefix, to: settings.target, allocator: context.channel.allocator)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        batchNow = nil
        let mustFlush = batch.send(context: context, tally: &tally)
        tally.publish(to: stats)
        if mustFlush { context.flush() }
        context.fireChannelReadComplete()
    }

    private func drop(_ reason: Counter, from source: SocketAddress, context: ChannelHandlerContext, _ explain: (String) -> String) {
        tally.add(reason)
        drops.note(reason, from: source, eventLoop: context.eventLoop) { peer in
            "Dropped a datagram: \(explain(peer)); further drops are summarized every 10 s"
        }
    }

    /// The reason of the last failed send, for the listener's log line if the socket is lost.
    var lastSendError: String? { batch.lastSendError }

    func channelInactive(context: ChannelHandlerContext) {
        batch.discard()
        tally.publish(to: stats)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("Socket error: \(describeSocketError(error).0)", metadata: ["event": "socket-error"])
    }
}
