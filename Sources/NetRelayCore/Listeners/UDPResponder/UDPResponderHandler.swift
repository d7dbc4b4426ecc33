import Logging
import NIOCore
import NetRelayConfig

/// What a udp-responder does with a datagram, as the handler applies it (derived from the spec
/// plus what the host knows: its broadcast addresses).
struct UDPResponderSetup: Sendable {
    var prefix: ByteBuffer?
    var maxDatagramSize: Int
    var sourceCheck: ReplySourceCheck
    /// Replies per second per source; 0: no limit.
    var rateLimit: Double
    var rateLimitBurst: Int
    var rateLimitMaxSources: Int
    var replyToEmpty: Bool
    /// Replies per second across all sources; 0: no limit.
    var totalRateLimit: Double
    var totalRateLimitBurst: Int
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
        rateLimit = spec.rateLimit
        rateLimitBurst = spec.rateLimitBurst
        rateLimitMaxSources = spec.rateLimitMaxSources
        replyToEmpty = spec.replyToEmpty
        totalRateLimit = spec.totalRateLimit
        totalRateLimitBurst = spec.totalRateLimitBurst
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
final class UDPResponderHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private(set) var setup: UDPResponderSetup
    private let flow: DatagramFlow

    init(setup: UDPResponderSetup, stats: ListenerStats, logger: Logger,
         sender: DatagramSender? = nil, clock: @escaping () -> UInt64 = { NIODeadline.now().uptimeNanoseconds }) {
        self.setup = setup
        self.flow = DatagramFlow(what: "replies", stats: stats, logger: logger, sender: sender, clock: clock)
        flow.setRateLimit(rate: setup.rateLimit, burst: setup.rateLimitBurst, maxSources: setup.rateLimitMaxSources)
        flow.setTotalRateLimit(rate: setup.totalRateLimit, burst: setup.totalRateLimitBurst)
    }

    /// Applies a reloaded setup; sources keep what they used of their rate limit.
    func apply(_ new: UDPResponderSetup) {
        flow.setRateLimit(rate: new.rateLimit, burst: new.rateLimitBurst, maxSources: new.rateLimitMaxSources)
        flow.setTotalRateLimit(rate: new.totalRateLimit, burst: new.totalRateLimitBurst)
        setup = new
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
        // A datagram longer than the receive slice arrives cut to the slice's size, which the
        // listener makes maxDatagramSize + 1: anything over the limit shows up as over it.
        let size = envelope.data.readableBytes
        if size > setup.maxDatagramSize {
            flow.drop(.droppedOversize, from: source, eventLoop: context.eventLoop) { "\($0) sent a datagram larger than maxDatagramSize (\(self.setup.maxDatagramSize) bytes)" }
            return
        }
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
        guard flow.takeToken(for: ip) else {
            flow.drop(.droppedRateLimited, from: source, eventLoop: context.eventLoop) {
                "\($0) is over the rate limit (\(formatSeconds(self.setup.rateLimit)) replies/s, burst \(self.setup.rateLimitBurst))"
            }
            return
        }
        guard flow.takeTotalToken() else {
            flow.drop(.droppedTotalRateLimit, from: source, eventLoop: context.eventLoop) { _ in
                "the listener is over its total rate limit (\(formatSeconds(self.setup.totalRateLimit)) replies/s across all sources, burst \(self.setup.totalRateLimitBurst)\(self.setup.totalShare.describe()))"
            }
            return
        }
        flow.queue(envelope.data, prefixedWith: setup.prefix, to: source, allocator: context.channel.allocator)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flow.readComplete(context: context)
        context.fireChannelReadComplete()
    }

    /// The reason of the last failed send, for the listener's log line if the socket is lost.
    var lastSendError: String? { flow.lastSendError }

    func channelInactive(context: ChannelHandlerContext) {
        flow.inactive()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        flow.socketError(error)
    }
}
