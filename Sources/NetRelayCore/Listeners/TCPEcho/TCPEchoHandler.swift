import Logging
import NIOCore
import NetRelayConfig

/// Echoes every byte back in order, each received chunk optionally preceded by a prefix.
///
/// Also the connection's flow control: it holds back `read()` while the channel is not
/// writable, so a peer that sends and never reads stops being read from once its unsent
/// echo passes the write-buffer high-water mark (NIO resumes at the low mark). On the peer's
/// FIN (with allowHalfOpen) or on shutdown it stops echoing, flushes what is queued, and closes.
final class TCPEchoHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How long, after our FIN on shutdown, we keep reading (and discarding) before closing.
    static let lingerTimeout = TimeAmount.seconds(2)

    private let prefix: ByteBuffer?
    private let stats: ListenerStats
    private let logger: Logger
    private var writable = true
    /// Bytes that arrived while we were holding back reads.
    private var unrequested = 0
    private let maxUnrequested: Int
    private var readHeldBack = false
    /// No more echoes: the input ended or the daemon is shutting down. Reads are discarded.
    private var finishing = false
    // Counted locally and published once per read batch, off the per-chunk path.
    private var unpublishedIn = 0
    private var unpublishedOut = 0
    private var totalIn = 0
    private var totalOut = 0
    private var openedAt = NIODeadline.now()
    private let budget: MemoryBudget?
    /// Open while the channel is not writable: what this connection holds against the budget.
    private var account: MemoryBudget.Account?
    private var pausedForBudget = false

    /// `maxQueued`: the most echo we queue for a peer that is not reading beyond the write
    /// buffer's high-water mark before we disconnect it.
    init(prefix: String, maxQueued: Int, stats: ListenerStats, logger: Logger, budget: MemoryBudget? = nil) {
        self.maxUnrequested = maxQueued
        self.budget = budget
        self.prefix = prefix.isEmpty ? nil : ByteBuffer(string: prefix)
        self.stats = stats
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        openedAt = .now()
        logger.debug("Accepted connection", metadata: ["event": "accepted"])
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let count = buffer.readableBytes
        unpublishedIn += count
        if !writable {
            // NIO reads without asking us when the peer half-closes (it drains the socket to the
            // EOF), so backpressure alone does not bound what we queue then. Cap it.
            unrequested += count
            if let account, account.isClosing {
                // Picked by the memory budget: its close is on the way; queue nothing more.
                return
            }
            if let account, !finishing {
                // Only what is queued; input discarded while finishing is freed at once. The
                // whole buffer stays allocated until written, however little of it was filled.
                budget?.charge(account, buffer.capacity + (prefix?.readableBytes ?? 0))
            }
            if unrequested > maxUnrequested {
                stats.add(.closedNotReading)
                logger.debug("Closing connection: more than \(maxUnrequested) bytes of echo queued for a peer that is not reading", metadata: ["event": "not-reading"])
                finishing = true
                context.close(promise: nil)
                return
            }
        }
        guard !finishing else { return }
        if let prefix {
            // The same prefix buffer every time: ByteBuffer is copy-on-write, so no allocation.
            context.write(wrapOutboundOut(prefix), promise: nil)
            unpublishedOut += prefix.readableBytes
        }
        // Pass the received NIOAny through unchanged: no re-wrapping, no copy.
        context.write(data, promise: nil)
        unpublishedOut += count
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Counters first: once the echo is flushed the peer may already be asking for them.
        publishCounters()
        context.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if let budget, budget.isOver, !finishing, budget.pause(context.channel) {
            // Over the daemon's memory budget: no new input until it is met again.
            pausedForBudget = true
            readHeldBack = true
            return
        }
        if writable || finishing {
            context.read()
        } else {
            readHeldBack = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable { unrequested = 0 }
        if let budget {
            if !writable, account == nil {
                // NIO's outbound buffer just passed the high-water mark; from now on what queues counts.
                let account = budget.open(channel: context.channel, stats: stats)
                self.account = account
                // NIO keeps as many receive buffers (up to 64 KiB each) as it reads per wake-up
                // while echo queues, for the rest of the connection's life: for a peer that does
                // not read, keep one (maxMessagesPerRead 1, which drops the others), and count it.
                try? context.channel.syncOptions?.setOption(.maxMessagesPerRead, value: 1)
                let pending = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
                budget.charge(account, pending + MemoryBudget.receiveBufferAllowance)
            } else if writable, let account {
                self.account = nil
                budget.settle(account)
                if !finishing { try? context.channel.syncOptions?.setOption(.maxMessagesPerRead, value: 4) }
            }
        }
        if writable, readHeldBack, !pausedForBudget {
            readHeldBack = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            // allowHalfOpen: the peer is done sending; echo what is queued, then close.
            finish(context: context, linger: false)
        case is MemoryBudgetResumeEvent:
            pausedForBudget = false
            if readHeldBack, writable || finishing {
                readHeldBack = false
                context.read()
            }
        case is ChannelShouldQuiesceEvent:
            // Shutdown or restart: deliver the echoes we owe, send FIN, and read (discarding)
            // until the peer closes, so unread input does not turn our close into a reset
            // that could destroy the echo still in flight.
            finish(context: context, linger: true)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func finish(context: ChannelHandlerContext, linger: Bool) {
        if finishing && linger { return }  // already on the way out
        finishing = true
        if readHeldBack {
            readHeldBack = false
            context.read()
        }
        if pausedForBudget {
            pausedForBudget = false
            budget?.unpause(context.channel)
        }
        // Writes complete in order: once this empty one is written, every echo before it is.
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in
            guard linger else {
                context.close(promise: nil)
                return
            }
            context.close(mode: .output, promise: nil)
            // A peer that ignores our FIN does not get to hold up a shutdown for long.
            context.eventLoop.assumeIsolated().scheduleTask(in: TCPEchoHandler.lingerTimeout) {
                context.close(promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        publishCounters()
        if let budget {
            if let account {
                self.account = nil
                budget.settle(account)
            }
            if pausedForBudget { budget.unpause(context.channel) }
        }
        if logger.logLevel <= .debug {
            let seconds = Double((NIODeadline.now() - openedAt).nanoseconds) / 1e9
            logger.debug(
                "Closed connection: \(totalIn) bytes in, \(totalOut) bytes out, \(formatDuration(seconds))",
                metadata: ["event": "closed", "bytes_in": "\(totalIn)", "bytes_out": "\(totalOut)"]
            )
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Resets and broken pipes are how TCP peers leave; they are not the daemon's errors.
        logger.debug("Connection error: \(describeSocketError(error).0)", metadata: ["event": "connection-error"])
        context.close(promise: nil)
    }

    private func publishCounters() {
        if unpublishedIn > 0 {
            stats.add(.bytesIn, unpublishedIn)
            totalIn += unpublishedIn
            unpublishedIn = 0
        }
        if unpublishedOut > 0 {
            stats.add(.bytesOut, unpublishedOut)
            totalOut += unpublishedOut
            unpublishedOut = 0
        }
    }
}
