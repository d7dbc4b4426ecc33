import Logging
import NIOCore

/// What a udp-responder does with a datagram, as the handler applies it (derived from the spec
/// plus what the host knows: its broadcast addresses).
struct UDPResponderSettings: Sendable {
    var prefix: ByteBuffer?
    var maxDatagramSize: Int
    var sourceCheck: ReplySourceCheck
    /// Replies per second per source; 0: no limit.
    var rateLimit: Double
    var rateLimitBurst: Int
    var rateLimitMaxSources: Int

    init(_ spec: UDPResponderSpec, broadcastAddresses: Set<IPAddress>) {
        prefix = spec.replyPrefix.isEmpty ? nil : ByteBuffer(string: spec.replyPrefix)
        maxDatagramSize = spec.maxDatagramSize
        sourceCheck = ReplySourceCheck(rejectBadSources: spec.rejectBadSources, broadcastAddresses: broadcastAddresses)
        rateLimit = spec.rateLimit
        rateLimitBurst = spec.rateLimitBurst
        rateLimitMaxSources = spec.rateLimitMaxSources
    }
}

/// Answers each datagram to its sender, optionally prefixed: the classic `dgram` server
/// (`'confirmation message' + msg`), minus the reflector. In order, a datagram is dropped
/// (and counted) when it is larger than `maxDatagramSize`, when its source cannot or must not
/// be answered (`ReplySourceCheck`), or when its source is over its rate limit.
///
/// Replies are collected while NIO delivers a read batch and sent together at
/// channelReadComplete (`DatagramBatch`); counters are published at the same moment. Drops are
/// logged as rate-limited summaries, never one line per datagram.
final class UDPResponderHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private(set) var settings: UDPResponderSettings
    private var limiter: TokenBucketTable?
    private let batch: DatagramBatch
    private var tally = DatagramTally()
    private let stats: ListenerStats
    private let logger: Logger
    private let drops: SummaryReporter
    /// Monotonic nanoseconds; injectable so tests can move time.
    private let clock: () -> UInt64
    /// The clock read once per read batch: a batch arrives at one instant, as far as a rate
    /// limit measured in replies per second can tell.
    private var batchNow: UInt64?

    init(settings: UDPResponderSettings, stats: ListenerStats, logger: Logger,
         sender: DatagramSender? = nil, clock: @escaping () -> UInt64 = { NIODeadline.now().uptimeNanoseconds }) {
        self.settings = settings
        self.stats = stats
        self.logger = logger
        self.clock = clock
        self.drops = SummaryReporter(logger: logger, event: "dropped", what: "datagrams dropped")
        self.batch = DatagramBatch(sender: sender, stats: stats, drops: drops,
                                   failures: SummaryReporter(logger: logger, event: "send-error", what: "send errors"), what: "replies")
        self.limiter = Self.makeLimiter(settings)
    }

    private static func makeLimiter(_ s: UDPResponderSettings) -> TokenBucketTable? {
        s.rateLimit > 0 ? TokenBucketTable(rate: s.rateLimit, burst: s.rateLimitBurst, maxSources: s.rateLimitMaxSources) : nil
    }

    /// Applies reloaded settings; sources keep what they used of their rate limit.
    func apply(_ new: UDPResponderSettings) {
        if new.rateLimit > 0, limiter != nil {
            limiter!.reconfigure(rate: new.rateLimit, burst: new.rateLimitBurst, maxSources: new.rateLimitMaxSources)
        } else {
            limiter = Self.makeLimiter(new)
        }
        settings = new
    }

    /// Sources the rate limiter tracks now (for tests).
    var trackedSources: Int { limiter?.count ?? 0 }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        tally.add(.datagramsIn)
        let source = envelope.remoteAddress
        // A datagram longer than the receive slice arrives cut to the slice's size, which the
        // listener makes maxDatagramSize + 1: anything over the limit shows up as over it.
        let size = envelope.data.readableBytes
        if size > settings.maxDatagramSize {
            drop(.droppedOversize, from: source, context: context) { "\($0) sent a datagram larger than maxDatagramSize (\(self.settings.maxDatagramSize) bytes)" }
            return
        }
        guard let ip = IPAddress(source), let port = source.port else { return }
        switch settings.sourceCheck.verdict(ip, port: port) {
        case .answer:
            break
        case .unanswerable:
            drop(.droppedBadSource, from: source, context: context) { "\($0) cannot be answered (port 0 or a broadcast address)" }
            return
        case .bad:
            drop(.droppedBadSource, from: source, context: context) { "\($0) is a broadcast, multicast or privileged-port source (rejectBadSources)" }
            return
        }
        if limiter != nil {
            let now = batchNow ?? clock()
            batchNow = now
            if !limiter!.take(ip, now: now) {
                drop(.droppedRateLimited, from: source, context: context) {
                    "\($0) is over the rate limit (\(formatSeconds(self.settings.rateLimit)) replies/s, burst \(self.settings.rateLimitBurst))"
                }
                return
            }
        }
        batch.queue(envelope.data, prefixedWith: settings.prefix, to: source, allocator: context.channel.allocator)
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
        if logger.logLevel <= .trace {
            logger.trace("Dropped a datagram: \(explain("\(source)"))", metadata: ["event": "dropped"])
        }
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
        // Read errors NIO tolerates (e.g. ECONNREFUSED after an ICMP port unreachable) arrive
        // here; they are the peers' business, not a reason to stop answering.
        logger.debug("Socket error: \(describeSocketError(error).0)", metadata: ["event": "socket-error"])
    }
}
