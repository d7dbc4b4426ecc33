import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetRelayConfig

/// A bound, configured announcement socket with its handler, not yet announcing.
struct AnnouncementSocket: Sendable {
    /// The spec it was opened for.
    var spec: ListenerSpec
    var channel: Channel
    var handler: NIOLoopBound<AnnouncementHandler>
    var interface: AnnouncerInterface?
    var local: String
}

/// Opens the sockets of one multicast announcer, all on its one event loop, so the progress
/// handed from a dead socket's handler to its replacement never crosses threads.
struct AnnouncementSocketOpener: Sendable {
    let context: ListenerContext
    let loop: EventLoop
    let stats: ListenerStats
    let lateness: LatencyHistogram
    /// For the json format's `host`.
    let hostName: String

    /// Resolves the interface, binds, sets the options and joins; closes what it opened and
    /// throws `ListenerStartError` on the first failure.
    func open(_ spec: ListenerSpec, _ m: AnnouncerSpec, progress: AnnouncementHandler.Progress) async throws -> AnnouncementSocket {
        let target = m.destination.description + (m.interface.map { " via \($0)" } ?? "")
        var interface: AnnouncerInterface?
        if let setting = m.interface {
            switch AnnouncerInterface.resolveOnHost(setting, for: m.group) {
            case .success(let i): interface = i
            case .failure(let e):
                throw ListenerStartError(spec: spec, action: "configure", address: target, reason: e.description, errno: nil)
            }
        }
        if m.format == .locale { LocalTimeZone.reloadHostZone() }

        let bindAddress = m.group.isIPv4 ? "0.0.0.0" : "::"
        let handlerBox = NIOLockedValueBox<NIOLoopBound<AnnouncementHandler>?>(nil)
        let channel: Channel
        do {
            channel = try await bootstrap(spec, m, progress: progress, handlerBox).bind(host: bindAddress, port: 0).get()
        } catch {
            throw ListenerStartError(spec: spec, action: "bind", address: m.group.isIPv4 ? "0.0.0.0:0" : "[::]:0", error: error)
        }
        do {
            try await configure(channel, spec, m, interface: interface, target: target)
        } catch {
            try? await channel.close()
            throw error
        }
        guard let handler = handlerBox.withLockedValue({ $0 }) else {
            try? await channel.close()
            throw ListenerStartError(spec: spec, action: "configure", address: target, reason: "internal error: the announcement handler was not installed", errno: nil)
        }
        let local = channel.localAddress.flatMap(Endpoint.init)?.description ?? "\(bindAddress):0"
        return AnnouncementSocket(spec: spec, channel: channel, handler: handler, interface: interface, local: local)
    }

    private func bootstrap(_ spec: ListenerSpec, _ m: AnnouncerSpec, progress: AnnouncementHandler.Progress,
                           _ handlerBox: NIOLockedValueBox<NIOLoopBound<AnnouncementHandler>?>) -> DatagramBootstrap {
        let setup = Self.setup(spec, m, hostName: hostName)
        let (stats, lateness) = (self.stats, self.lateness)
        let logger = context.logger(for: spec)
        return DatagramBootstrap(group: loop)
            // Nothing to read: not even our own announcements reach the ephemeral port.
            .channelOption(.autoRead, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = AnnouncementHandler(setup: setup, progress: progress, stats: stats, lateness: lateness, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    handlerBox.withLockedValue { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                }
            }
    }

    /// The multicast options, and the membership when `joinGroup` asks for it.
    private func configure(_ channel: Channel, _ spec: ListenerSpec, _ m: AnnouncerSpec, interface: AnnouncerInterface?, target: String) async throws {
        for option in AnnouncerSocketOption.all(for: m, interface: interface) {
            do {
                try await option.apply(to: channel)
            } catch {
                throw ListenerStartError(spec: spec, action: "configure", address: target,
                    reason: "setting \(option.name) to \(option.valueDescription): \(describeSocketError(error).0)", errno: describeSocketError(error).1)
            }
        }
        guard m.joinGroup else { return }
        do {
            guard let multicast = channel as? MulticastChannel else { throw ChannelError.operationUnsupported }
            try await multicast.joinGroup(try m.destination.socketAddress(), device: interface?.deviceForJoin).get()
        } catch {
            throw ListenerStartError(spec: spec, action: "join", address: target, reason: Self.describeJoinError(error), errno: describeSocketError(error).1)
        }
    }

    /// Starts announcing on an installed socket. A reload that came while it was being opened
    /// changed the spec after it was read: what is `current` now applies first (later reloads
    /// find the new handler).
    func startAnnouncing(_ socket: AnnouncementSocket, current: ListenerSpec, _ m: AnnouncerSpec) async throws {
        let refresh: AnnouncementHandler.Setup?
        if current != socket.spec {
            refresh = Self.setup(current, m, hostName: hostName)
            for option in AnnouncerSocketOption.all(for: m, interface: nil) {
                try? await option.apply(to: socket.channel)
            }
        } else {
            refresh = nil
        }
        let loop = self.loop
        try await loop.submit {
            if let refresh { socket.handler.value.apply(refresh, now: loop.now) }
            socket.handler.value.start()
        }.get()
    }

    static func setup(_ spec: ListenerSpec, _ m: AnnouncerSpec, hostName: String) -> AnnouncementHandler.Setup {
        AnnouncementHandler.Setup(
            // The group is a validated literal, so this cannot fail.
            destination: try! m.destination.socketAddress(),
            interval: .nanoseconds(Int64((m.interval * 1e9).rounded())),
            formatter: AnnouncementFormatter(format: m.format, host: hostName, listener: spec.name)
        )
    }

    static func describeJoinError(_ error: Error) -> String {
        if let e = error as? NIOMulticastNotSupportedError {
            return "the interface \(e.device.name) does not support multicast (no MULTICAST flag)"
        }
        return describeSocketError(error).0
    }
}
