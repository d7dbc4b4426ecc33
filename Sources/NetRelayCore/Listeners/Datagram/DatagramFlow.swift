import Logging
import NIOCore
import NetRelayConfig

/// What the datagram handlers (responder, rebroadcaster) share around their own checks: the
/// counters of a read batch, drop summaries, the per-source rate limit read against one clock
/// value per batch, and the batch of outgoing datagrams sent together at the end of the read.
/// Owned by one handler; used on its event loop only.
final class DatagramFlow {
    private var limiter: TokenBucketTable?
    private var totalLimiter: TokenBucket?
    /// Counts what the relay-mark filter dropped in the kernel (nil without a socket).
    private let kernelDrops: KernelDropCounter?
    private let batch: DatagramBatch
    var tally = DatagramTally()
    private let stats: ListenerStats
    private let logger: Logger
    private let drops: SummaryReporter
    /// Monotonic nanoseconds; injectable so tests can move time.
    private let clock: () -> UInt64
    /// The outgoing datagrams, as summaries name them.
    private let what: String
    /// The clock read once per read batch: a batch arrives at one instant, as far as a rate
    /// limit measured per second can tell.
    private var batchNow: UInt64?

    /// Monotonic nanoseconds, the clock outside tests.
    static func monotonic() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    /// `what` names the outgoing datagrams in summaries ("replies", "rebroadcasts").
    init(what: String, limits: FlowLimits, stats: ListenerStats, logger: Logger, sender: DatagramSender?, clock: @escaping () -> UInt64) {
        self.stats = stats
        self.logger = logger
        self.clock = clock
        self.what = what
        self.drops = SummaryReporter(logger: logger, event: "dropped", what: "datagrams dropped")
        self.kernelDrops = sender.flatMap { KernelDropCounter(fd: $0.fileDescriptor, stats: stats) }
        self.batch = DatagramBatch(sender: sender, stats: stats, drops: drops,
                                   failures: SummaryReporter(logger: logger, event: "send-error", what: "send errors"), what: what)
        setLimits(limits)
    }

    /// Sets both rate limits; sources keep what they used of them.
    func setLimits(_ limits: FlowLimits) {
        setRateLimit(rate: limits.perSource.rate, burst: limits.perSource.burst, maxSources: limits.maxSources)
        setTotalRateLimit(rate: limits.total.rate, burst: limits.total.burst)
    }

    /// Sets the rate limit (0: none); sources keep what they used of it.
    func setRateLimit(rate: Double, burst: Int, maxSources: Int) {
        if rate > 0, limiter != nil {
            limiter!.reconfigure(rate: rate, burst: burst, maxSources: maxSources)
        } else {
            limiter = rate > 0 ? TokenBucketTable(rate: rate, burst: burst, maxSources: maxSources) : nil
        }
    }

    /// Sets the limit across all sources (0: none), keeping what was used of it.
    func setTotalRateLimit(rate: Double, burst: Int) {
        if rate > 0, totalLimiter != nil {
            totalLimiter!.reconfigure(rate: rate, burst: burst)
        } else {
            totalLimiter = rate > 0 ? TokenBucket(rate: rate, burst: burst) : nil
        }
    }

    /// Whether the listener may send one more datagram now, whatever the source; always true
    /// without a total limit. Asked after the per-source limit, so one busy source's drops do
    /// not use up what the others may have.
    func takeTotalToken() -> Bool {
        guard totalLimiter != nil else { return true }
        let now = batchNow ?? clock()
        batchNow = now
        return totalLimiter!.take(now: now)
    }

    /// The channel is active: start counting kernel drops.
    func active(eventLoop: EventLoop) {
        kernelDrops?.start(on: eventLoop)
    }

    /// Sources the rate limiter tracks now (for tests).
    var trackedSources: Int { limiter?.count ?? 0 }

    /// Whether `source` may have one more datagram now; always true without a rate limit.
    func takeToken(for source: IPAddress) -> Bool {
        guard limiter != nil else { return true }
        let now = batchNow ?? clock()
        batchNow = now
        return limiter!.take(source, now: now)
    }

    func queue(_ payload: ByteBuffer, prefixedWith prefix: ByteBuffer?, to destination: SocketAddress, allocator: ByteBufferAllocator,
               interfaceIndex: Int = 0, target: DestinationCounter? = nil, echoes: Bool = false) {
        batch.queue(payload, prefixedWith: prefix, to: destination, allocator: allocator, interfaceIndex: interfaceIndex, target: target, echoes: echoes)
    }

    /// Whether a datagram from `ip` is within its source's rate limit and then the listener's
    /// total; otherwise it is dropped and counted. `unit` names the per-source rate ("replies",
    /// "datagrams"); `totalNote` follows the total limit in its line.
    func admit(_ ip: IPAddress, from source: SocketAddress, eventLoop: EventLoop, limits: FlowLimits, unit: String, totalNote: String = "") -> Bool {
        guard takeToken(for: ip) else {
            drop(.droppedRateLimited, from: source, eventLoop: eventLoop) {
                "\($0) is over the rate limit (\(formatSeconds(limits.perSource.rate)) \(unit)/s, burst \(limits.perSource.burst))"
            }
            return false
        }
        guard takeTotalToken() else {
            drop(.droppedTotalRateLimit, from: source, eventLoop: eventLoop) { _ in
                "the listener is over its total rate limit (\(formatSeconds(limits.total.rate)) \(self.what)/s across all sources, burst \(limits.total.burst)\(totalNote))"
            }
            return false
        }
        return true
    }

    /// Drops (and counts) a datagram over `maxDatagramSize`; true when it did. A datagram longer
    /// than the receive slice arrives cut to the slice's size, which the listener makes
    /// maxDatagramSize + 1: anything over the limit shows up as over it.
    func dropsOversize(_ size: Int, max maxDatagramSize: Int, from source: SocketAddress, eventLoop: EventLoop) -> Bool {
        guard size > maxDatagramSize else { return false }
        drop(.droppedOversize, from: source, eventLoop: eventLoop) { "\($0) sent a datagram larger than maxDatagramSize (\(maxDatagramSize) bytes)" }
        return true
    }

    /// Counts a dropped datagram and logs it as a rate-limited summary; `explain` gets the
    /// source as text and is only evaluated when a line is logged.
    func drop(_ reason: Counter, from source: SocketAddress, eventLoop: EventLoop, _ explain: (String) -> String) {
        tally.add(reason)
        if logger.logLevel <= .trace {
            logger.trace("Dropped a datagram: \(explain("\(source)"))", metadata: ["event": "dropped"])
        }
        drops.note(reason, from: source, eventLoop: eventLoop) { peer in
            "Dropped a datagram: \(explain(peer)); further drops are summarized every 10 s"
        }
    }

    /// The end of a read batch: send what was queued, publish the counters.
    func readComplete(context: ChannelHandlerContext) {
        batchNow = nil
        let mustFlush = batch.send(context: context, tally: &tally)
        if batch.lastSentEchoes > 0 { kernelDrops?.expectEchoes(batch.lastSentEchoes) }
        tally.publish(to: stats)
        if mustFlush { context.flush() }
    }

    func inactive() {
        kernelDrops?.stop()
        batch.discard()
        tally.publish(to: stats)
    }

    /// The reason of the last failed send, for the listener's log line if the socket is lost.
    var lastSendError: String? { batch.lastSendError }

    /// Read errors NIO tolerates (e.g. ECONNREFUSED after an ICMP port unreachable) are the
    /// peers' business, not a reason to stop.
    func socketError(_ error: Error) {
        logger.debug("Socket error: \(describeSocketError(error).0)", metadata: ["event": "socket-error"])
    }
}

/// The rate limits a datagram handler's setup carries, as its flow applies them: per source
/// (for up to `maxSources` at once) and across all sources.
struct FlowLimits: Sendable, Equatable {
    var perSource: RateLimit
    var maxSources: Int
    var total: RateLimit
}

/// Datagrams per second (0: no limit) and the burst allowed before the rate applies.
struct RateLimit: Sendable, Equatable {
    var rate: Double
    var burst: Int
}

/// A datagram handler built on a `DatagramFlow`: the end of a read batch, the channel going
/// away and socket errors are the flow's, the same for every such handler.
protocol FlowHandler: ChannelInboundHandler {
    associatedtype Setup: FlowSetup
    var setup: Setup { get set }
    var flow: DatagramFlow { get }
}

/// A datagram handler's setup: it carries the flow's rate limits.
protocol FlowSetup: Sendable {
    var limits: FlowLimits { get }
}

extension FlowHandler {
    /// Applies a reloaded setup; sources keep what they used of their rate limit.
    func apply(_ new: Setup) {
        flow.setLimits(new.limits)
        setup = new
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flow.readComplete(context: context)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        flow.inactive()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        flow.socketError(error)
    }

    /// The reason of the last failed send, for the listener's log line if the socket is lost.
    var lastSendError: String? { flow.lastSendError }
}
