import NIOCore
import NIOPosix

/// Connects, sends the texts on schedule, prints every chunk that comes back, then ends the
/// connection: a full close, or a FIN and reading on until the server closes (`--half-close`).
struct TCPProbe: Sendable {
    var target: HostPort
    var sends: [String]
    var interval: TimeAmount
    var endAfter: TimeAmount
    var halfClose: Bool
    var timeout: TimeAmount
    var output: Output

    func run(on group: MultiThreadedEventLoopGroup) async -> Outcome {
        let done = group.next().makePromise(of: Outcome.self)
        let probe = self
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TCPProbeHandler(probe, done: done))
                }
            }
        let channel: any Channel
        do {
            if target.isLiteral {
                channel = try await bootstrap.connect(to: target.resolve()).get()
            } else {
                channel = try await bootstrap.connect(host: target.host, port: target.port).get()
            }
        } catch {
            let reason = ErrorText.describe(error, peer: target.description)
            var outcome = Outcome.failure(reason)
            if case .connectTimeout = error as? ChannelError {
                output.emit(.timeout(after: Double(timeout.nanoseconds) / 1e9, waitingFor: "connect"))
                outcome = .timedOut(reason)
            }
            done.succeed(outcome)
            return outcome
        }
        return await ProbeRunner.verdict(of: channel, done)
    }
}

/// The probe's whole conversation: it starts when the connection is up and completes `done` once.
final class TCPProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let probe: TCPProbe
    private let done: EventLoopPromise<Outcome>
    private var peer: String
    private var sent = 0
    private var received = 0
    /// The probe has closed or half-closed its side.
    private var ended = false
    private var finished = false
    private var timers: [Scheduled<Void>] = []

    init(_ probe: TCPProbe, done: EventLoopPromise<Outcome>) {
        self.probe = probe
        self.done = done
        self.peer = probe.target.description
    }

    func channelActive(context: ChannelHandlerContext) {
        peer = context.channel.remoteAddress?.endpointText ?? peer
        probe.output.emit(.connected(peer: peer, local: context.channel.localAddress?.endpointText ?? "?"))
        let loop = context.eventLoop.assumeIsolated()
        var at = TimeAmount.zero
        for (index, text) in probe.sends.enumerated() {
            if index == 0 {
                send(text, context: context)
            } else {
                at = at + probe.interval
                timers.append(loop.scheduleTask(in: at) { self.send(text, context: context) })
            }
        }
        timers.append(loop.scheduleTask(in: at + probe.endAfter) { self.end(context: context) })
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received += buffer.readableBytes
        probe.output.emit(.data(text: String(buffer: buffer), bytes: buffer.readableBytes))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished {
            probe.output.emit(.closed(by: "peer", peer: peer, received: received))
            finish(context: context, closedByPeer())
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context: context, .failure(ErrorText.describe(error, peer: peer)))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ProbeInterrupted {
            finish(context: context, .failure("interrupted after \(received) bytes from \(peer)"))
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func send(_ text: String, context: ChannelHandlerContext) {
        guard !finished else { return }
        let buffer = context.channel.allocator.buffer(string: text)
        sent += 1
        probe.output.emit(.sent(to: peer, text: text, bytes: buffer.readableBytes))
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { error in
            self.finish(context: context, .failure("cannot send to \(self.peer): \(ErrorText.describe(error, peer: self.peer))"))
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: written)
    }

    private func end(context: ChannelHandlerContext) {
        guard !finished else { return }
        ended = true
        guard probe.halfClose else {
            probe.output.emit(.closed(by: "probe", peer: peer, received: received))
            finish(context: context, verdict(waitedFor: "within \(Seconds.text(Double(probe.endAfter.nanoseconds) / 1e9)) s after the last --send"))
            return
        }
        probe.output.emit(.halfClosed(peer: peer))
        let shut = context.eventLoop.makePromise(of: Void.self)
        shut.futureResult.assumeIsolated().whenFailure { error in
            self.finish(context: context, .failure("cannot send FIN to \(self.peer): \(ErrorText.describe(error, peer: self.peer))"))
        }
        context.close(mode: .output, promise: shut)
        let seconds = Seconds.text(Double(probe.timeout.nanoseconds) / 1e9)
        timers.append(context.eventLoop.assumeIsolated().scheduleTask(in: probe.timeout) {
            self.probe.output.emit(.timeout(after: Double(self.probe.timeout.nanoseconds) / 1e9, waitingFor: "close"))
            self.finish(context: context, .timedOut("timed out after \(seconds) s waiting for \(self.peer) to close the connection after our FIN"))
        })
    }

    /// The verdict once the conversation is over: anything sent must have had a reply.
    private func verdict(waitedFor: String) -> Outcome {
        if !probe.sends.isEmpty && received == 0 { return .failure("no reply from \(peer) \(waitedFor)") }
        return .success
    }

    /// The server closed: expected after our FIN, a failure before we were done.
    private func closedByPeer() -> Outcome {
        if ended { return verdict(waitedFor: "before it closed the connection") }
        if sent < probe.sends.count {
            return .failure("\(peer) closed the connection before every --send was sent (\(sent) of \(probe.sends.count) sent, \(received) bytes received)")
        }
        if received == 0 {
            return .failure("\(peer) accepted the connection and closed it without sending anything (over its connection limit, or denied?)")
        }
        return .success
    }

    private func finish(context: ChannelHandlerContext, _ outcome: Outcome) {
        guard !finished else { return }
        finished = true
        timers.forEach { $0.cancel() }
        timers.removeAll()
        if context.channel.isActive { context.close(promise: nil) }
        done.succeed(outcome)
    }
}
