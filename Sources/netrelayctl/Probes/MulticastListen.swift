#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// The classic multicast client: bind the group's port, join the group (on one interface if
/// asked), print each announcement; optionally sum them up at the end.
struct MulticastListen: Sendable {
    var group: SocketAddress
    var device: NIONetworkDevice?
    /// nil: until the timeout or a signal.
    var count: Int?
    /// nil: no time limit.
    var timeout: TimeAmount?
    var stats: Bool
    var output: Output

    func run(on eventLoopGroup: MultiThreadedEventLoopGroup) async -> Outcome {
        let listen = self
        return await ProbeRunner.verdict(on: eventLoopGroup, failure: { .failure(ErrorText.describe($0, peer: group.endpointText)) }, start: start) { done in
            try await DatagramBootstrap(group: eventLoopGroup)
                // Several listeners (and the announcer itself) may share the port.
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(.socketOption(.reusePort), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(MulticastListenHandler(listen, verdict: ProbeVerdict(done)))
                    }
                }
                .bind(to: bindAddress())
                .get()
        }
    }

    /// Joins the group; nil once joined, else the failure.
    private func start(_ channel: any Channel) async -> Outcome? {
        do {
            // Fire the start from the join's own callback, on the event loop: no announcement
            // can be read (and printed) before the "joined" line.
            try await join(channel).map {
                channel.pipeline.fireUserInboundEventTriggered(ProbeStart())
            }.get()
            return nil
        } catch {
            return .failure("cannot join \(group.ipAddress ?? "?")\(device.map { " on \($0.name)" } ?? ""): \(ErrorText.describe(error, peer: group.endpointText))")
        }
    }

    /// IPv4: the group itself, so that only datagrams sent to the group arrive. IPv6: the
    /// wildcard, since binding a link-local group would need a scope.
    private func bindAddress() throws -> SocketAddress {
        switch group {
        case .v6: return try SocketAddress(ipAddress: "::", port: group.port ?? 0)
        default: return group
        }
    }

    private func join(_ channel: any Channel) -> EventLoopFuture<Void> {
        guard let device, !device.multicastSupported else {
            guard let multicast = channel as? any MulticastChannel else {
                return channel.eventLoop.makeFailedFuture(ProbeFailure("the socket does not support multicast"))
            }
            return multicast.joinGroup(group, device: device)
        }
        // NIO refuses devices without IFF_MULTICAST (Linux's lo has none), yet the kernel joins
        // them and loops the group's traffic back: ask the kernel directly.
        guard let options = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ProbeFailure("the socket does not take socket options"))
        }
        return RawMembership.join(options, group: group, device: device)
    }
}

/// IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP without NIO's IFF_MULTICAST check.
enum RawMembership {
    static func join(_ options: any SocketOptionProvider, group: SocketAddress, device: NIONetworkDevice) -> EventLoopFuture<Void> {
        switch (group, device.address) {
        case (.v4(let g), .some(.v4(let a))):
            let request = ip_mreq(imr_multiaddr: g.address.sin_addr, imr_interface: a.address.sin_addr)
            return options.unsafeSetSocketOption(level: .ip, name: .ip_add_membership, value: request)
        case (.v6(let g), _):
            let request = ipv6_mreq(ipv6mr_multiaddr: g.address.sin6_addr, ipv6mr_interface: UInt32(device.interfaceIndex))
            return options.unsafeSetSocketOption(level: .ipv6, name: .ipv6_join_group, value: request)
        default:
            return options.eventLoop.makeFailedFuture(ProbeFailure("\(device.name) has no address of the group's family"))
        }
    }
}

final class MulticastListenHandler: StartedProbe {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let listen: MulticastListen
    private let verdict: ProbeVerdict
    private var statistics = AnnouncementStats()
    private var heard = 0

    init(_ listen: MulticastListen, verdict: ProbeVerdict) {
        self.listen = listen
        self.verdict = verdict
    }

    private var groupText: String { listen.group.endpointText }

    func interrupted(context: ChannelHandlerContext) {
        finish(context: context, verdictAtEnd(why: "interrupted", timedOut: false))
    }

    func start(context: ChannelHandlerContext) {
        listen.output.emit(.joined(
            group: listen.group.ipAddress ?? groupText,
            interface: listen.device?.name,
            interfaceAddress: listen.device?.address?.ipAddress,
            local: context.channel.localAddress?.endpointText ?? "?"
        ))
        guard let timeout = listen.timeout else { return }
        verdict.after(timeout, context: context) {
            let seconds = Seconds.text(Double(timeout.nanoseconds) / 1e9)
            if self.listen.count != nil || self.heard == 0 {
                self.listen.output.emit(.timeout(after: Double(timeout.nanoseconds) / 1e9, waitingFor: "announcement"))
            }
            self.finish(context: context, self.verdictAtEnd(why: "timed out after \(seconds) s", timedOut: true))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !verdict.given else { return }
        let envelope = unwrapInboundIn(data)
        let text = String(buffer: envelope.data)
        let from = envelope.remoteAddress.endpointText
        let seq = AnnouncementStats.sequenceNumber(in: text)
        heard += 1
        statistics.record(from: from, seq: seq, at: .now())
        listen.output.emit(.announcement(from: from, text: text, bytes: envelope.data.readableBytes, seq: seq))
        if let count = listen.count, heard >= count { finish(context: context, .success) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context: context, .failure(ErrorText.describe(error, peer: groupText)))
    }

    /// Without --count any announcement is a success; with it, all of them must have come.
    private func verdictAtEnd(why: String, timedOut: Bool) -> Outcome {
        let reason: String
        if let count = listen.count {
            guard heard < count else { return .success }
            reason = "\(why): heard \(heard) of \(count) announcements on \(groupText)"
        } else {
            guard heard == 0 else { return .success }
            reason = "\(why): no announcement on \(groupText)"
        }
        return timedOut ? .timedOut(reason) : .failure(reason)
    }

    private func finish(context: ChannelHandlerContext, _ outcome: Outcome) {
        guard !verdict.given else { return }
        if listen.stats { listen.output.emit(.stats(statistics.summary)) }
        verdict.give(outcome, context: context)
    }
}
