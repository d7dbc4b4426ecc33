import Logging
import NIOCore
import NetRelayConfig

/// Closes a connection that has seen no traffic for the sweeper's timeout: nothing received,
/// and no progress writing to the peer (the write buffer draining below its low mark counts).
///
/// The handler only records when it last saw activity (a clock read per read batch); its
/// loop's `IdleSweeper` finds the connections that have been quiet too long.
final class IdleTimeoutHandler: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    private let sweeper: IdleSweeper
    private let stats: ListenerStats
    private let logger: Logger
    private(set) var lastActivity = NIODeadline.uptimeNanoseconds(0)
    /// Where the sweeper keeps this handler; nil while not watched.
    var sweepIndex: Int?
    private var sawRead = false
    private var context: ChannelHandlerContext?

    init(sweeper: IdleSweeper, stats: ListenerStats, logger: Logger) {
        self.sweeper = sweeper
        self.stats = stats
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { watch(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        watch(context)
        context.fireChannelActive()
    }

    private func watch(_ context: ChannelHandlerContext) {
        lastActivity = context.eventLoop.now
        sweeper.add(self)
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
        sweeper.remove(self)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        sweeper.remove(self)
        self.context = nil
    }

    /// Called by the sweeper when the connection has been quiet for the timeout.
    func expire() {
        sweeper.remove(self)
        guard let context, context.channel.isActive else { return }
        stats.add(.closedIdle)
        logger.debug("Closing idle connection after \(formatDuration(Double(sweeper.timeout.nanoseconds) / 1e9)) without traffic", metadata: ["event": "idle-timeout"])
        context.close(promise: nil)
    }
}
