import Logging
import NIOCore
import NetRelayConfig

/// Sends the time to the multicast group at every deadline of an `AnnouncementSchedule`:
/// one timer armed at a time, for the next absolute deadline; after a stall, one announcement
/// now and the skipped deadlines counted (`missedDeadlines`), never a burst.
///
/// `progress` (the schedule, the next deadline, the next sequence number) is plain data the
/// announcer carries over when it has to replace a broken socket, so the stream continues
/// where it stopped; `apply(_:now:)` changes the format or interval in place and keeps it.
final class AnnouncementHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    /// What an in-place update may change.
    struct Setup: Sendable {
        var destination: SocketAddress
        var interval: TimeAmount
        var formatter: AnnouncementFormatter
    }

    /// Where the announcement stream stands.
    struct Progress: Sendable, Equatable {
        /// nil until the first `start()`.
        var schedule: AnnouncementSchedule?
        /// The deadline the timer waits for.
        var nextDeadline: Int64 = 0
        /// The `seq` of the next announcement: one per announcement attempted, so a receiver's
        /// gap means lost datagrams (a failed send included); skipped deadlines take none.
        var nextSequence: UInt64 = 0
    }

    private(set) var setup: Setup
    private(set) var progress: Progress
    private let stats: ListenerStats
    /// How late each announcement's timer fired.
    private let lateness: LatencyHistogram
    private let logger: Logger
    private let wallClock: @Sendable () -> WallClockTime
    /// nil: the event loop's clock. Tests stage stalls with their own (an embedded loop runs
    /// an overdue timer with its clock set back to the timer's deadline).
    private let monotonicClock: (@Sendable () -> NIODeadline)?
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var running = false
    /// Set when `start()` resumes a stream whose socket was replaced: the deadlines missed
    /// meanwhile are counted, but the announcer has already said why, so no stall warning.
    private var resuming = false
    /// Reused for every announcement: once NIO has written the previous one it holds no
    /// reference to the storage, so `clear()` does not allocate.
    private var buffer = ByteBuffer()
    private var stallLog = LogThrottle()
    private var sendErrorLog = LogThrottle()

    init(setup: Setup, progress: Progress, stats: ListenerStats, lateness: LatencyHistogram, logger: Logger,
         wallClock: @escaping @Sendable () -> WallClockTime = WallClockTime.now,
         monotonicClock: (@Sendable () -> NIODeadline)? = nil) {
        self.setup = setup
        self.progress = progress
        self.stats = stats
        self.lateness = lateness
        self.logger = logger
        self.wallClock = wallClock
        self.monotonicClock = monotonicClock
    }

    private func now(_ context: ChannelHandlerContext) -> NIODeadline {
        monotonicClock?() ?? context.eventLoop.now
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        buffer = context.channel.allocator.buffer(capacity: 128)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The socket never asks to read (autoRead off); should a datagram come anyway, it is
        // not ours to answer.
    }

    /// Starts the schedule — deadline 0 is now — or, with progress carried over from a
    /// replaced socket, resumes it (the deadlines that passed meanwhile count as missed).
    func start() {
        guard let context, !running else { return }
        running = true
        if progress.schedule == nil {
            progress.schedule = AnnouncementSchedule(start: now(context), interval: setup.interval)
            progress.nextDeadline = 0
        } else {
            resuming = true
        }
        arm()
    }

    /// Stops announcing; the progress stays for a later `start()`.
    func stop() {
        running = false
        timer?.cancel()
        timer = nil
    }

    /// A new setup for the announcements to come. A new interval continues the phase of the
    /// old schedule (`AnnouncementSchedule.changingInterval`); the sequence goes on either way.
    func apply(_ new: Setup, now: NIODeadline) {
        let old = setup
        setup = new
        guard new.interval != old.interval, let schedule = progress.schedule else { return }
        let lastSent = progress.nextDeadline > 0 ? progress.nextDeadline - 1 : nil
        progress.schedule = schedule.changingInterval(to: new.interval, lastSent: lastSent, now: now)
        progress.nextDeadline = 0
        if running { arm() }
    }

    private func arm() {
        timer?.cancel()
        guard running, let context, let schedule = progress.schedule else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: schedule.deadline(progress.nextDeadline)) {
            self.fire()
        }
    }

    private func fire() {
        timer = nil
        guard running, let context, let schedule = progress.schedule else { return }
        let now = now(context)
        let firing = schedule.firing(scheduled: progress.nextDeadline, now: now)
        lateness.observe(nanoseconds: (now - schedule.deadline(progress.nextDeadline)).nanoseconds)
        let resumed = resuming
        resuming = false
        if firing.missed > 0 {
            stats.add(.missedDeadlines, Int(firing.missed))
            if !resumed, let quiet = stallLog.admit(now: now) {
                let late = Double((now - schedule.deadline(progress.nextDeadline)).nanoseconds) / 1e9
                logger.warning(
                    "Skipped \(firing.missed) announcement\(firing.missed == 1 ? "" : "s"): the timer fired \(formatDuration(late)) late (event loop busy or process stopped)\(quiet > 0 ? "; \(quiet) more stalls since the last message" : "")",
                    metadata: ["event": "missed-deadlines", "missed": "\(firing.missed)"]
                )
            }
        }
        progress.nextDeadline = firing.next
        send(context: context, now: now)
        arm()
    }

    private func send(context: ChannelHandlerContext, now: NIODeadline) {
        buffer.clear()
        setup.formatter.write(time: wallClock(), sequence: progress.nextSequence, into: &buffer)
        progress.nextSequence &+= 1
        // One promise per announcement: NIO reports some send errors (EMSGSIZE, EHOSTUNREACH)
        // only through the write's promise; the others also close the channel, which the
        // announcer notices and answers by opening a new socket.
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                self.stats.add(.announcements)
            case .failure(let error):
                self.stats.add(.sendErrors)
                self.logSendError(error, now: now)
            }
        }
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: setup.destination, data: buffer)), promise: promise)
    }

    private func logSendError(_ error: Error, now: NIODeadline) {
        guard let quiet = sendErrorLog.admit(now: now) else { return }
        let destination = Endpoint(setup.destination)?.description ?? "\(setup.destination)"
        logger.warning(
            "Failed to send announcement to \(destination): \(describeSendError(error))\(quiet > 0 ? " (\(quiet) more send errors since the last message)" : "")",
            metadata: ["event": "send-error"]
        )
    }
}

/// "network is unreachable", from NIO's errors for a datagram write.
func describeSendError(_ error: Error) -> String {
    switch error {
    case let e as ChannelError where e == .writeMessageTooLarge: return "message too long"
    case let e as ChannelError where e == .writeHostUnreachable: return "no route to host"
    default: return describeSocketError(error).0
    }
}
