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
    /// The clock read once per read batch: a batch arrives at one instant, as far as a rate
    /// limit measured per second can tell.
    private var batchNow: UInt64?

    /// `what` names the outgoing datagrams in summaries ("replies", "rebroadcasts").
    init(what: String, stats: ListenerStats, logger: Logger, sender: DatagramSender?, clock: @escaping () -> UInt64) {
        self.stats = stats
        self.logger = logger
        self.clock = clock
        self.drops = SummaryReporter(logger: logger, event: "dropped", what: "datagrams dropped")
        self.kernelDrops = sender.flatMap { KernelDropCounter(fd: $0.fileDescriptor, stats: stats) }
        self.batch = DatagramBatch(sender: sender, stats: stats, drops: drops,
                                   failures: SummaryReporter(logger: logger, event: "send-error", what: "send errors"), what: what)
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
