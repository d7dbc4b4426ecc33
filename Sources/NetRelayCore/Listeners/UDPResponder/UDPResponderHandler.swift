import Logging
import NIOCore
import NetRelayConfig

/// What a udp-responder does with a datagram, as the handler applies it (derived from the spec
/// plus what the host knows: its broadcast addresses).
struct UDPResponderSetup: FlowSetup {
    var prefix: ByteBuffer?
    var maxDatagramSize: Int
    var sourceCheck: ReplySourceCheck
    var replyToEmpty: Bool
    /// Replies per second per source and across all sources.
    var limits: FlowLimits
    /// With `eventLoopThreads` N, each of the N sockets gets 1/N of the total (`DatagramSpread`):
    /// the listener-wide figures and N, for the log line.
    var totalShare = TotalShare()

    struct TotalShare: Sendable {
        var sockets = 1
        var listenerRate: Double = 0
        var listenerBurst = 0

        /// "" with one socket; else how the limit the line quotes relates to the listener's.
        func describe() -> String {
            sockets > 1 ? "; this socket's share of the listener's \(formatSeconds(listenerRate))/s, burst \(listenerBurst), over \(sockets) sockets" : ""
        }
    }

    init(_ spec: UDPResponderSpec, broadcastAddresses: Set<IPAddress>) {
        prefix = spec.replyPrefix.isEmpty ? nil : ByteBuffer(string: spec.replyPrefix)
        maxDatagramSize = spec.maxDatagramSize
        sourceCheck = ReplySourceCheck(rejectBadSources: spec.rejectBadSources, broadcastAddresses: broadcastAddresses)
        replyToEmpty = spec.replyToEmpty
        limits = FlowLimits(perSource: RateLimit(rate: spec.rateLimit, burst: spec.rateLimitBurst), maxSources: spec.rateLimitMaxSources,
                            total: RateLimit(rate: spec.totalRateLimit, burst: spec.totalRateLimitBurst))
    }
}

/// Answers each datagram to its sender, optionally prefixed: the classic `dgram` server
/// (`'confirmation message' + msg`), minus the reflector. In order, a datagram is dropped
/// (and counted) when it is larger than `maxDatagramSize`, when it is empty (unless
/// `replyToEmpty`: a reply to nothing tells a client nothing and only serves reflection), when
/// its source cannot or must not be answered (`ReplySourceCheck`), when its source is over its
/// rate limit, or when the listener is over its total rate limit (all sources together: what
/// forged sources can extract). Datagrams carrying the relay mark never get here: the socket
/// filter drops them (`RelayMark`).
///
/// Replies are collected while NIO delivers a read batch and sent together at
/// channelReadComplete (`DatagramBatch`); counters are published at the same moment. Drops are
/// logged as rate-limited summaries, never one line per datagram.
final class UDPResponderHandler: FlowHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    var setup: UDPResponderSetup
    let flow: DatagramFlow

    init(setup: UDPResponderSetup, stats: ListenerStats, logger: Logger, sender: DatagramSender? = nil, clock: @escaping () -> UInt64 = DatagramFlow.monotonic) {
        self.setup = setup
        flow = DatagramFlow(what: "replies", limits: setup.limits, stats: stats, logger: logger, sender: sender, clock: clock)
    }

    func channelActive(context: ChannelHandlerContext) {
        flow.active(eventLoop: context.eventLoop)
        context.fireChannelActive()
    }

    /// Sources the rate limiter tracks now (for tests).
    var trackedSources: Int { flow.trackedSources }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        flow.tally.add(.datagramsIn)
        let source = envelope.remoteAddress
        let size = envelope.data.readableBytes
        if flow.dropsOversize(size, max: setup.maxDatagramSize, from: source, eventLoop: context.eventLoop) { return }
        if size == 0 && !setup.replyToEmpty {
            flow.drop(.droppedEmpty, from: source, eventLoop: context.eventLoop) { "\($0) sent an empty datagram (replyToEmpty is off)" }
            return
        }
        guard let ip = IPAddress(source), let port = source.port else { return }
        switch setup.sourceCheck.verdict(ip, port: port) {
        case .answer:
            break
        case .unanswerable:
            flow.drop(.droppedBadSource, from: source, eventLoop: context.eventLoop) { "\($0) cannot be answered (port 0 or a broadcast address)" }
            return
        case .bad:
            flow.drop(.droppedBadSource, from: source, eventLoop: context.eventLoop) { "\($0) is a broadcast, multicast or privileged-port source (rejectBadSources)" }
            return
        }
        guard flow.admit(ip, from: source, eventLoop: context.eventLoop, limits: setup.limits, unit: "replies", totalNote: setup.totalShare.describe()) else { return }
        flow.queue(envelope.data, prefixedWith: setup.prefix, to: source, allocator: context.channel.allocator)
    }
}
