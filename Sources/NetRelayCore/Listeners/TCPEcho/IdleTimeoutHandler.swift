import Logging
import NIOCore

/// Closes a connection that has seen no traffic for `timeout`: nothing received, and no
/// progress writing to the peer (the write buffer draining below its low mark counts).
///
/// One timer per connection, re-armed from the last activity only when it fires, so the
/// per-read cost is a clock read per read batch, not a timer per read.
final class IdleTimeoutHandler: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    private let timeout: TimeAmount
    private let stats: ListenerStats
    private let logger: Logger
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var sawRead = false
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, stats: ListenerStats, logger: Logger) {
        self.timeout = timeout
        self.stats = stats
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            lastActivity = context.eventLoop.now
            arm(context: context, at: lastActivity + timeout)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        lastActivity = context.eventLoop.now
        arm(context: context, at: lastActivity + timeout)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        sawRead = true
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if sawRead {
            sawRead = false
            lastActivity = context.eventLoop.now
        }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { lastActivity = context.eventLoop.now }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    private func arm(context: ChannelHandlerContext, at deadline: NIODeadline) {
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.fire(context: context)
        }
    }

    private func fire(context: ChannelHandlerContext) {
        timer = nil
        guard context.channel.isActive else { return }
        let due = lastActivity + timeout
        if due > context.eventLoop.now {
            arm(context: context, at: due)
            return
        }
        stats.add(.closedIdle)
        logger.debug("Closing idle connection after \(formatDuration(Double(timeout.nanoseconds) / 1e9)) without traffic", metadata: ["event": "idle-timeout"])
        context.close(promise: nil)
    }
}
