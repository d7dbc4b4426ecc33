#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import NetRelayConfig

/// What to do when accept() fails on a listening socket.
enum AcceptFailure: Equatable {
    /// EMFILE/ENFILE: no file descriptor for the new connection. Retrying at once fails the
    /// same way while the listening socket stays readable: a busy loop.
    case fdLimit
    /// ENOBUFS/ENOMEM: the kernel is short of memory; also worth a pause.
    case kernelMemory
    /// Anything else NIO does not close the listener for (ECONNABORTED: the peer left the
    /// backlog before we took it): retry at once.
    case other

    init(errno code: Int32) {
        switch code {
        case EMFILE, ENFILE: self = .fdLimit
        case ENOBUFS, ENOMEM: self = .kernelMemory
        default: self = .other
        }
    }

    var backsOff: Bool { self != .other }
}

/// First in a tcp-echo server channel's pipeline: when accept() fails for want of a file
/// descriptor (or kernel memory), stops accepting for `retryInterval` instead of retrying at
/// once. NIO leaves the listener open on EMFILE, but the failed accept leaves its read pending,
/// so the listening socket stays registered for EPOLLIN (level-triggered): while connections
/// wait in the backlog, epoll reports it readable again at once and accept() fails again, a
/// busy loop at 100 % CPU (measured: 28,000 failed accepts per second). NIO's own
/// `AcceptBackoffHandler` is not in our pipeline (`ServerBootstrap` adds it only on its async
/// `bind` path, not the future-based `bind(to:)`/`withBoundSocket` we use), and holding back
/// `read()` as it does is not enough for that reason. So this handler turns `autoRead` off,
/// which takes the socket out of epoll, and back on when the pause is over. Connections that
/// arrive meanwhile wait in the backlog; beyond it the kernel drops their SYNs and clients retry.
///
/// It also reports the state: `ListenerStats.atFdLimit` for STATUS=, the `refusedFdLimit`
/// counter, one warning line when the limit is first hit, then a summary every 10 s while
/// accept() keeps failing, and a line when accepting works again.
final class AcceptBackoff: ChannelInboundHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel
    
    static let retryInterval = TimeAmount.milliseconds(100)
    static let summaryInterval = TimeAmount.seconds(10)

    private let stats: ListenerStats
    private let logger: Logger
    private let label: String
    private var scheduledRead: Scheduled<Void>?
    /// One episode: from the first EMFILE until a summary window passes without one.
    private var episodeStart: NIODeadline?
    private var refusedInWindow = 0
    private var refusedInEpisode = 0
    private var summary: Scheduled<Void>?
    private var warnings = LogThrottle(window: AcceptBackoff.summaryInterval)

    init(stats: ListenerStats, logger: Logger, label: String) {
        self.stats = stats
        self.logger = logger
        self.label = label
    }

    private func retry(context: ChannelHandlerContext) {
        scheduledRead = nil
        // Clear the STATUS= note as soon as a descriptor is free, even if nobody connects.
        if stats.atFdLimit.load(ordering: .relaxed), FileDescriptorLimit.canOpenOne() {
            stats.atFdLimit.store(false, ordering: .relaxed)
        }
        // Back into epoll: the next accept() runs as soon as a connection is waiting.
        try? context.channel.syncOptions?.setOption(.autoRead, value: true)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if stats.atFdLimit.load(ordering: .relaxed) {
            stats.atFdLimit.store(false, ordering: .relaxed)
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let io = error as? IOError else {
            context.fireErrorCaught(error)
            return
        }
        let failure = AcceptFailure(errno: io.errnoCode)
        guard failure.backsOff else {
            context.fireErrorCaught(error)
            return
        }
        if scheduledRead == nil {
            try? context.channel.syncOptions?.setOption(.autoRead, value: false)
            scheduledRead = context.eventLoop.assumeIsolated().scheduleTask(in: Self.retryInterval) {
                self.retry(context: context)
            }
        }
        if failure == .fdLimit {
            stats.add(.refusedFdLimit)
            stats.atFdLimit.store(true, ordering: .relaxed)
            noteFdLimit(context: context)
        } else if let suppressed = warnings.admit(now: .now()) {
            let more = suppressed > 0 ? " (\(suppressed) more since the last line)" : ""
            logger.warning("\(label): accept() failed: \(errnoDescription(io.errnoCode)) (the kernel is short of memory); pausing accepts for \(Self.retryInterval.nanoseconds / 1_000_000) ms\(more)",
                           metadata: ["event": "accept-error"])
        }
    }

    private func noteFdLimit(context: ChannelHandlerContext) {
        refusedInWindow += 1
        refusedInEpisode += 1
        guard episodeStart == nil else { return }
        episodeStart = .now()
        if let suppressed = warnings.admit(now: .now()) {
            let limit = FileDescriptorLimit.current().soft
            let more = suppressed > 0 ? " (\(suppressed) more since the last line)" : ""
            logger.warning(
                "\(label) is at the fd limit (RLIMIT_NOFILE \(limit), \(stats.open) connections open): not accepting new connections, retrying every \(Self.retryInterval.nanoseconds / 1_000_000) ms; raise LimitNOFILE= in the unit or lower maxConnections\(more)",
                metadata: ["event": "fd-limit", "limit": "\(limit)"]
            )
        }
        refusedInWindow = 0
        scheduleSummary(context: context)
    }

    private func scheduleSummary(context: ChannelHandlerContext) {
        summary = context.eventLoop.assumeIsolated().scheduleTask(in: Self.summaryInterval) {
            self.flushSummary(context: context)
        }
    }

    private func flushSummary(context: ChannelHandlerContext) {
        summary = nil
        guard let start = episodeStart else { return }
        if stats.atFdLimit.load(ordering: .relaxed) {
            logger.notice(
                "\(label) is still at the fd limit (RLIMIT_NOFILE \(FileDescriptorLimit.current().soft), \(stats.open) connections open): \(refusedInWindow) accept attempts refused in the last \(Self.summaryInterval.nanoseconds / 1_000_000_000) s",
                metadata: ["event": "fd-limit", "count": "\(refusedInWindow)"]
            )
            refusedInWindow = 0
            scheduleSummary(context: context)
        } else {
            let seconds = Double((NIODeadline.now() - start).nanoseconds) / 1e9
            logger.info(
                "\(label) is accepting again: \(refusedInEpisode) accept attempts were refused at the fd limit within \(formatDuration(seconds))",
                metadata: ["event": "fd-limit-over", "count": "\(refusedInEpisode)"]
            )
            episodeStart = nil
            refusedInEpisode = 0
            refusedInWindow = 0
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
    }

    private func cancelTimers() {
        scheduledRead?.cancel()
        scheduledRead = nil
        summary?.cancel()
        summary = nil
        stats.atFdLimit.store(false, ordering: .relaxed)
    }
}
