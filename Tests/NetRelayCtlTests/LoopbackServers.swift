import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Small stand-ins for netrelayd's listener kinds, bound on loopback ports from `Ports`, so that
/// netrelayctl is tested against real sockets even where the daemon is not built.
enum LoopbackServers {
    static let group = MultiThreadedEventLoopGroup.singleton

    /// What a TCP test server does with a connection.
    enum TCPBehaviour: Sendable {
        /// Echo each chunk with a prefix; after the client's FIN, close (allowHalfOpen: true).
        case echo(prefix: String)
        /// Read and drop; never close, even after the client's FIN.
        case silent
        /// Accept and close at once (a listener over its connection limit).
        case closeAtOnce
    }

    static func tcp(_ behaviour: TCPBehaviour, host: String = "127.0.0.1") async throws -> (any Channel, Int) {
        try await onFreePort { port in
            try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(TCPTestHandler(behaviour))
                    }
                }
                .bind(host: host, port: port)
                .get()
        }
    }

    /// Replies to each datagram with `prefix` + the datagram; nil prefix: never replies.
    static func udp(replyPrefix: String?, host: String = "127.0.0.1") async throws -> (any Channel, Int) {
        try await onFreePort { port in
            try await DatagramBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(UDPResponderHandler(prefix: replyPrefix))
                    }
                }
                .bind(host: host, port: port)
                .get()
        }
    }

    /// Rebroadcasts each datagram, prefixed, to 127.255.255.255:`targetPort` (the classic
    /// broadcast server, on loopback's broadcast address).
    static func rebroadcaster(targetPort: Int, prefix: String) async throws -> (any Channel, Int) {
        let target = try SocketAddress(ipAddress: "127.255.255.255", port: targetPort)
        return try await onFreePort { port in
            try await DatagramBootstrap(group: group)
                .channelOption(.socketOption(.so_broadcast), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RebroadcastHandler(target: target, prefix: prefix))
                    }
                }
                .bind(host: "127.0.0.1", port: port)
                .get()
        }
    }

    enum AnnouncementFormat: Sendable {
        /// Like netrelayd's json format, with `"seq":N`; every `skipEvery`th number is never sent.
        case json(skipEvery: Int)
        /// An ISO 8601 time, no sequence number.
        case text
    }

    /// Sends an announcement to `group`:`port` every `intervalMilliseconds`, out of lo only
    /// (IP_MULTICAST_IF 127.0.0.1).
    static func announcer(group groupAddress: String, port: Int, format: AnnouncementFormat, intervalMilliseconds: Int64 = 50) async throws -> any Channel {
        let destination = try SocketAddress(ipAddress: groupAddress, port: port)
        let channel = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AnnouncerHandler(destination: destination, format: format, interval: .milliseconds(intervalMilliseconds))
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let options = channel as? any SocketOptionProvider else { throw TestSetupError("no socket options") }
        var loopback = in_addr()
        loopback.s_addr = UInt32(0x7F00_0001).bigEndian
        try await options.setIPMulticastIF(loopback).get()
        channel.pipeline.fireUserInboundEventTriggered(StartAnnouncing())
        return channel
    }

    /// Binds on a port from `Ports`, trying another when it was taken in the meantime.
    private static func onFreePort(_ bind: (Int) async throws -> any Channel) async throws -> (any Channel, Int) {
        var lastError: (any Error)?
        for _ in 0..<20 {
            let port = Ports.free()
            do {
                return (try await bind(port), port)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? TestSetupError("no port")
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct StartAnnouncing: Sendable {}

final class TCPTestHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let behaviour: LoopbackServers.TCPBehaviour

    init(_ behaviour: LoopbackServers.TCPBehaviour) { self.behaviour = behaviour }

    func channelActive(context: ChannelHandlerContext) {
        if case .closeAtOnce = behaviour { context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .echo(let prefix) = behaviour else { return }
        var reply = context.channel.allocator.buffer(string: prefix)
        var chunk = unwrapInboundIn(data)
        reply.writeBuffer(&chunk)
        context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent, case .echo = behaviour {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

final class UDPResponderHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    private let prefix: String?

    init(prefix: String?) { self.prefix = prefix }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let prefix else { return }
        var envelope = unwrapInboundIn(data)
        var reply = context.channel.allocator.buffer(string: prefix)
        reply.writeBuffer(&envelope.data)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: reply)), promise: nil)
    }
}

final class RebroadcastHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    private let target: SocketAddress
    private let prefix: String

    init(target: SocketAddress, prefix: String) {
        self.target = target
        self.prefix = prefix
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var envelope = unwrapInboundIn(data)
        var message = context.channel.allocator.buffer(string: prefix)
        message.writeBuffer(&envelope.data)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: target, data: message)), promise: nil)
    }
}

final class AnnouncerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    private let destination: SocketAddress
    private let format: LoopbackServers.AnnouncementFormat
    private let interval: TimeAmount
    private var seq = 0
    private var next: Scheduled<Void>?

    init(destination: SocketAddress, format: LoopbackServers.AnnouncementFormat, interval: TimeAmount) {
        self.destination = destination
        self.format = format
        self.interval = interval
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is StartAnnouncing { announce(context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        next?.cancel()
        context.fireChannelInactive()
    }

    private func announce(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        seq += 1
        let text: String
        switch format {
        case .json(let skipEvery):
            if skipEvery > 0 && seq % skipEvery == 0 { seq += 1 }
            text = #"{"time":"2026-11-27T14:03:04.123Z","seq":\#(seq),"host":"test","listener":"time"}"#
        case .text:
            text = "2026-11-27T14:03:04.123Z"
        }
        let buffer = context.channel.allocator.buffer(string: text)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: destination, data: buffer)), promise: nil)
        next = context.eventLoop.assumeIsolated().scheduleTask(in: interval) { self.announce(context: context) }
    }
}

/// Whether IPv4 multicast loops back over lo here (lo has no MULTICAST flag, yet Linux joins
/// and delivers when the group is joined on 127.0.0.1 and sent with IP_MULTICAST_IF 127.0.0.1).
enum LoopbackMulticast {
    static let works: Bool = check()

    private static func check() -> Bool {
        let group = "239.255.77.77"
        let port = UInt16(Ports.free())
        let receiver = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(receiver); close(sender) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, group, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return false }
        var request = ip_mreq()
        inet_pton(AF_INET, group, &request.imr_multiaddr)
        request.imr_interface.s_addr = UInt32(0x7F00_0001).bigEndian
        guard setsockopt(receiver, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, &request, socklen_t(MemoryLayout<ip_mreq>.size)) == 0 else { return false }
        var interface = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        guard setsockopt(sender, Int32(IPPROTO_IP), IP_MULTICAST_IF, &interface, socklen_t(MemoryLayout<in_addr>.size)) == 0 else { return false }
        let sent = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sender, "x", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard sent == 1 else { return false }
        var poller = pollfd(fd: receiver, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 1000) == 1
    }
}
