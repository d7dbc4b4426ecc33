import NIOCore
import NIOPosix

/// The classic broadcast client: bind the port the rebroadcaster broadcasts to (shared, so that
/// several probes on one host each hear every broadcast), send one datagram to the
/// rebroadcaster from that socket, and print every datagram heard until `count` arrived.
struct BroadcastProbe: Sendable {
    let bind: HostPort
    let to: HostPort
    let exchange: DatagramExchange

    func run(on group: MultiThreadedEventLoopGroup) async -> Outcome {
        let probe = self
        return await ProbeRunner.verdict(on: group, failure: { .failure(ErrorText.describe($0, peer: bind.description)) }) { done in
            let destination = try to.resolve()
            return try await DatagramBootstrap(group: group)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(.socketOption(.reusePort), value: 1)
                .channelOption(.socketOption(.so_broadcast), value: 1)
                // IP_PKTINFO tells which address a datagram was sent to: the broadcast address or ours.
                .channelOption(.receivePacketInfo, value: true)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            BroadcastProbeHandler(probe, destination: destination, verdict: ProbeVerdict(done))
                        )
                    }
                }
                .bind(to: bind.resolve())
                .get()
        }
    }
}

final class BroadcastProbeHandler: StartedProbe {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let probe: BroadcastProbe
    private let destination: SocketAddress
    private let verdict: ProbeVerdict
    private var heard = 0
    private var started = false

    init(_ probe: BroadcastProbe, destination: SocketAddress, verdict: ProbeVerdict) {
        self.probe = probe
        self.destination = destination
        self.verdict = verdict
    }

    func interrupted(context: ChannelHandlerContext) {
        finish(context: context, .failure("interrupted after \(heard) of \(probe.exchange.count) broadcasts"))
    }

    func start(context: ChannelHandlerContext) {
        started = true
        let local = context.channel.localAddress?.endpointText ?? probe.bind.description
        probe.exchange.output.emit(.listening(local: local))
        let timeout = probe.exchange.timeout
        verdict.after(timeout, context: context) {
            let seconds = Double(timeout.nanoseconds) / 1e9
            self.probe.exchange.output.emit(.timeout(after: seconds, waitingFor: "broadcast"))
            self.finish(context: context, .timedOut("timed out after \(Seconds.text(seconds)) s: heard \(self.heard) of \(self.probe.exchange.count) broadcasts on \(local) after sending to \(self.probe.to)"))
        }
        let buffer = context.channel.allocator.buffer(string: probe.exchange.text)
        probe.exchange.output.emit(.sent(to: destination.endpointText, text: probe.exchange.text, bytes: buffer.readableBytes))
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { error in
            self.finish(context: context, .failure("cannot send to \(self.probe.to): \(ErrorText.describe(error, peer: self.probe.to.description))"))
        }
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: destination, data: buffer)), promise: written)
        if heard >= probe.exchange.count { finish(context: context, .success) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Datagrams that arrive between bind and start still count: they were heard.
        guard !verdict.given else { return }
        let envelope = unwrapInboundIn(data)
        heard += 1
        probe.exchange.output.emit(.broadcast(
            from: envelope.remoteAddress.endpointText,
            to: envelope.metadata?.packetInfo?.destinationAddress.ipAddress,
            text: String(buffer: envelope.data),
            bytes: envelope.data.readableBytes
        ))
        if heard >= probe.exchange.count && started { finish(context: context, .success) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A refusal reported on this unconnected socket concerns the datagram to the rebroadcaster.
        finish(context: context, .failure(ErrorText.describe(error, peer: probe.to.description)))
    }

    private func finish(context: ChannelHandlerContext, _ outcome: Outcome) {
        verdict.give(outcome, context: context)
    }
}
