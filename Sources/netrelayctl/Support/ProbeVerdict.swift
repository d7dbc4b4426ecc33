import NIOCore
import NIOPosix

/// A probe's verdict, given once: its timers are cancelled, its channel closed, and the command
/// gets the outcome. Used on the channel's event loop only.
final class ProbeVerdict {
    private let done: EventLoopPromise<Outcome>
    private var timers: [Scheduled<Void>] = []
    /// The verdict is given: nothing the channel does any more changes it.
    private(set) var given = false

    init(_ done: EventLoopPromise<Outcome>) {
        self.done = done
    }

    /// Runs `body` after `delay` unless the verdict is given first.
    func after(_ delay: TimeAmount, context: ChannelHandlerContext, _ body: @escaping () -> Void) {
        timers.append(context.eventLoop.assumeIsolated().scheduleTask(in: delay, body))
    }

    func give(_ outcome: Outcome, context: ChannelHandlerContext) {
        guard !given else { return }
        given = true
        timers.forEach { $0.cancel() }
        timers.removeAll()
        if context.channel.isActive { context.close(promise: nil) }
        done.succeed(outcome)
    }
}

/// A probe's handler that starts when its socket is ready (`ProbeStart`) and ends as a timeout
/// would on SIGINT or SIGTERM (`ProbeInterrupted`).
protocol StartedProbe: ChannelInboundHandler {
    func start(context: ChannelHandlerContext)
    func interrupted(context: ChannelHandlerContext)
}

extension StartedProbe {
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ProbeStart: start(context: context)
        case is ProbeInterrupted: interrupted(context: context)
        default: context.fireUserInboundEventTriggered(event)
        }
    }
}

extension ProbeRunner {
    /// Opens a probe's channel with `open` (its handler gets the promise of the outcome), lets
    /// `start` start it, and waits for the verdict. A failure to open is the verdict, described
    /// by `failure`; `start` returns an outcome to end with at once (the channel is closed).
    static func verdict(on group: MultiThreadedEventLoopGroup, failure: (any Error) -> Outcome,
                        start: (any Channel) async -> Outcome? = { $0.pipeline.fireUserInboundEventTriggered(ProbeStart()); return nil },
                        _ open: (EventLoopPromise<Outcome>) async throws -> any Channel) async -> Outcome {
        let done = group.next().makePromise(of: Outcome.self)
        let channel: any Channel
        do {
            channel = try await open(done)
        } catch {
            let outcome = failure(error)
            done.succeed(outcome)
            return outcome
        }
        if let early = await start(channel) {
            done.succeed(early)
            try? await channel.close()
            return early
        }
        return await verdict(of: channel, done)
    }
}

/// What a datagram probe sends and waits for: the text, how many, for how long, and where it
/// reports.
struct DatagramExchange: Sendable {
    let text: String
    let count: Int
    let timeout: TimeAmount
    let output: Output
}
