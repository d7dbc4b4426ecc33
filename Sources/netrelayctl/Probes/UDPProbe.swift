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
    let target: HostPort
    let exchange: DatagramExchange

    func run(on group: MultiThreadedEventLoopGroup) async -> Outcome {
        let probe = self
        return await ProbeRunner.verdict(on: group, failure: { .failure(ErrorText.describe($0, peer: target.description)) }) { done in
            try await DatagramBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(UDPProbeHandler(probe, verdict: ProbeVerdict(done)))
                    }
                }
                .connect(to: target.resolve())
                .get()
        }
    }
}

final class UDPProbeHandler: StartedProbe {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let probe: UDPProbe
    private let verdict: ProbeVerdict
    private var peer: String
    private var replies = 0

    init(_ probe: UDPProbe, verdict: ProbeVerdict) {
        self.probe = probe
        self.verdict = verdict
        self.peer = probe.target.description
    }

    func interrupted(context: ChannelHandlerContext) {
        finish(context: context, .failure("interrupted after \(replies) of \(probe.exchange.count) replies from \(peer)"))
    }

    func start(context: ChannelHandlerContext) {
        guard let remote = context.channel.remoteAddress else {
            finish(context: context, .failure("the socket for \(peer) is not connected"))
            return
        }
        peer = remote.endpointText
        let timeout = probe.exchange.timeout
        verdict.after(timeout, context: context) {
            let seconds = Double(timeout.nanoseconds) / 1e9
            self.probe.exchange.output.emit(.timeout(after: seconds, waitingFor: "reply"))
            self.finish(context: context, .timedOut("timed out after \(Seconds.text(seconds)) s: \(self.replies) of \(self.probe.exchange.count) replies from \(self.peer)"))
        }
        for _ in 0..<probe.exchange.count {
            let buffer = context.channel.allocator.buffer(string: probe.exchange.text)
            probe.exchange.output.emit(.sent(to: peer, text: probe.exchange.text, bytes: buffer.readableBytes))
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenFailure { error in
                self.finish(context: context, .failure(self.describe(error)))
            }
            context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: buffer)), promise: written)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !verdict.given else { return }
        let envelope = unwrapInboundIn(data)
        replies += 1
        probe.exchange.output.emit(.reply(from: envelope.remoteAddress.endpointText, text: String(buffer: envelope.data), bytes: envelope.data.readableBytes))
        if replies >= probe.exchange.count { finish(context: context, .success) }
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
        verdict.give(outcome, context: context)
    }
}
