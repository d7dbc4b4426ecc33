#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// Sends a datagram `count` times from a socket connected to the target and waits for as many
/// replies. Connecting the socket makes the kernel report an ICMP port unreachable as
/// ECONNREFUSED, so "nothing listens there" is told apart from "no answer".
struct UDPProbe: Sendable {
    var target: HostPort
    var text: String
    var count: Int
    var timeout: TimeAmount
    var output: Output

    func run(on group: MultiThreadedEventLoopGroup) async -> Outcome {
        let done = group.next().makePromise(of: Outcome.self)
        let probe = self
        let channel: any Channel
        do {
            let address = try target.resolve()
            channel = try await DatagramBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(UDPProbeHandler(probe, done: done))
                    }
                }
                .connect(to: address)
                .get()
        } catch {
            let outcome = Outcome.failure(ErrorText.describe(error, peer: target.description))
            done.succeed(outcome)
            return outcome
        }
        channel.pipeline.fireUserInboundEventTriggered(ProbeStart())
        return await ProbeRunner.verdict(of: channel, done)
    }
}

final class UDPProbeHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let probe: UDPProbe
    private let done: EventLoopPromise<Outcome>
    private var peer: String
    private var replies = 0
    private var finished = false
    private var timer: Scheduled<Void>?

    init(_ probe: UDPProbe, done: EventLoopPromise<Outcome>) {
        self.probe = probe
        self.done = done
        self.peer = probe.target.description
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ProbeStart:
            start(context: context)
        case is ProbeInterrupted:
            finish(context: context, .failure("interrupted after \(replies) of \(probe.count) replies from \(peer)"))
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func start(context: ChannelHandlerContext) {
        guard let remote = context.channel.remoteAddress else {
            finish(context: context, .failure("the socket for \(peer) is not connected"))
            return
        }
        peer = remote.endpointText
        let timeout = probe.timeout
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            let seconds = Double(timeout.nanoseconds) / 1e9
            self.probe.output.emit(.timeout(after: seconds, waitingFor: "reply"))
            self.finish(context: context, .timedOut("timed out after \(Seconds.text(seconds)) s: \(self.replies) of \(self.probe.count) replies from \(self.peer)"))
        }
        for _ in 0..<probe.count {
            let buffer = context.channel.allocator.buffer(string: probe.text)
            probe.output.emit(.sent(to: peer, text: probe.text, bytes: buffer.readableBytes))
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenFailure { error in
                self.finish(context: context, .failure(self.describe(error)))
            }
            context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: buffer)), promise: written)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        let envelope = unwrapInboundIn(data)
        replies += 1
        probe.output.emit(.reply(from: envelope.remoteAddress.endpointText, text: String(buffer: envelope.data), bytes: envelope.data.readableBytes))
        if replies >= probe.count { finish(context: context, .success) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context: context, .failure(describe(error)))
    }

    private func describe(_ error: any Error) -> String {
        if let io = error as? IOError, io.errnoCode == ECONNREFUSED {
            return "\(peer) refused the datagram: nothing listens on that port (ICMP port unreachable)"
        }
        return ErrorText.describe(error, peer: peer)
    }

    private func finish(context: ChannelHandlerContext, _ outcome: Outcome) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        context.close(promise: nil)
        done.succeed(outcome)
    }
}
