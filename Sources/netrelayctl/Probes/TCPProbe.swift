import NIOCore
import NIOPosix

/// Connects, sends the texts on schedule, prints every chunk that comes back, then ends the
/// connection: a full close, or a FIN and reading on until the server closes (`--half-close`).
struct TCPProbe: Sendable {
    let target: HostPort
    let script: TCPScript
    let timeout: TimeAmount
    let output: Output

    func run(on group: MultiThreadedEventLoopGroup) async -> Outcome {
        let probe = self
        // The conversation starts when the connection is up (channelActive).
        return await ProbeRunner.verdict(on: group, failure: failure, start: { _ in nil }) { done in
            let bootstrap = ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(TCPProbeHandler(probe, verdict: ProbeVerdict(done)))
                    }
                }
            if target.isLiteral { return try await bootstrap.connect(to: target.resolve()).get() }
            return try await bootstrap.connect(host: target.host, port: target.port).get()
        }
    }

    /// A connection that could not be made; one that took longer than `timeout` timed out.
    private func failure(_ error: any Error) -> Outcome {
        let reason = ErrorText.describe(error, peer: target.description)
        guard case .connectTimeout = error as? ChannelError else { return .failure(reason) }
        output.emit(.timeout(after: Double(timeout.nanoseconds) / 1e9, waitingFor: "connect"))
        return .timedOut(reason)
    }
}

/// The probe's whole conversation: it starts when the connection is up and completes `done` once.
final class TCPProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let probe: TCPProbe
    private let verdict: ProbeVerdict
    private var peer: String
    private var sent = 0
    private var received = 0
    /// The probe has closed or half-closed its side.
    private var ended = false

    init(_ probe: TCPProbe, verdict: ProbeVerdict) {
        self.probe = probe
        self.verdict = verdict
        self.peer = probe.target.description
    }

    func channelActive(context: ChannelHandlerContext) {
        peer = context.channel.remoteAddress?.endpointText ?? peer
        probe.output.emit(.connected(peer: peer, local: context.channel.localAddress?.endpointText ?? "?"))
        var at = TimeAmount.zero
        for (index, text) in probe.script.sends.enumerated() {
            if index == 0 {
                send(text, context: context)
            } else {
                at = at + probe.script.interval
                verdict.after(at, context: context) { self.send(text, context: context) }
            }
        }
        verdict.after(at + probe.script.endAfter, context: context) { self.end(context: context) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received += buffer.readableBytes
        probe.output.emit(.data(text: String(buffer: buffer), bytes: buffer.readableBytes))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !verdict.given {
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
        guard !verdict.given else { return }
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
        guard !verdict.given else { return }
        ended = true
        guard probe.script.halfClose else {
            probe.output.emit(.closed(by: "probe", peer: peer, received: received))
            finish(context: context, outcome(waitedFor: "within \(Seconds.text(Double(probe.script.endAfter.nanoseconds) / 1e9)) s after the last --send"))
            return
        }
        probe.output.emit(.halfClosed(peer: peer))
        let shut = context.eventLoop.makePromise(of: Void.self)
        shut.futureResult.assumeIsolated().whenFailure { error in
            self.finish(context: context, .failure("cannot send FIN to \(self.peer): \(ErrorText.describe(error, peer: self.peer))"))
        }
        context.close(mode: .output, promise: shut)
        let seconds = Seconds.text(Double(probe.timeout.nanoseconds) / 1e9)
        verdict.after(probe.timeout, context: context) {
            self.probe.output.emit(.timeout(after: Double(self.probe.timeout.nanoseconds) / 1e9, waitingFor: "close"))
            self.finish(context: context, .timedOut("timed out after \(seconds) s waiting for \(self.peer) to close the connection after our FIN"))
        }
    }

    /// The outcome once the conversation is over: anything sent must have had a reply.
    private func outcome(waitedFor: String) -> Outcome {
        if !probe.script.sends.isEmpty && received == 0 { return .failure("no reply from \(peer) \(waitedFor)") }
        return .success
    }

    /// The server closed: expected after our FIN, a failure before we were done.
    private func closedByPeer() -> Outcome {
        if ended { return outcome(waitedFor: "before it closed the connection") }
        if sent < probe.script.sends.count {
            return .failure("\(peer) closed the connection before every --send was sent (\(sent) of \(probe.script.sends.count) sent, \(received) bytes received)")
        }
        if received == 0 {
            return .failure("\(peer) accepted the connection and closed it without sending anything (over its connection limit, or denied?)")
        }
        return .success
    }

    private func finish(context: ChannelHandlerContext, _ outcome: Outcome) {
        verdict.give(outcome, context: context)
    }
}

/// What a TCP probe says and when: the texts, the pause between them, how long it waits after
/// the last, and whether it then half-closes (FIN, reading on) or closes.
struct TCPScript: Sendable {
    let sends: [String]
    let interval: TimeAmount
    let endAfter: TimeAmount
    let halfClose: Bool
}
