import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Wires a `multicast-announcer` spec to a NIO datagram socket: resolves the outgoing
/// interface, sets the multicast options, joins the group if asked, and runs an
/// `AnnouncementHandler` in the socket's pipeline.
///
/// The socket is bound to an ephemeral port (0.0.0.0:0 or [::]:0), never to the group's port:
/// a sender needs no particular source port, and holding the group port would take it from a
/// receiver on the same host. `joinGroup` therefore only makes the host a member of the group
/// on the outgoing interface (an IGMP/MLD report, so IGMP-snooping switches and multicast
/// routers keep the group flowing to this link, as the classic example's `addMembership`
/// does); the socket itself never reads, so it never hears its own announcements.
///
/// If the kernel refuses a send in a way NIO treats as fatal (the interface went down:
/// ENETUNREACH, ENODEV, ...), NIO closes the socket. The announcer then opens a new one after
/// a backoff (1 s doubling to 30 s, the interface resolved again) and carries the handler's
/// progress over, so the schedule and the sequence numbers continue.
final class MulticastAnnouncer: Listener {
    let stats = ListenerStats()
    private let context: ListenerContext
    /// Every socket and timer of this announcer lives on this one loop, so the progress handed
    /// from a dead socket's handler to its replacement never crosses threads.
    private let loop: EventLoop
    private let state: NIOLockedValueBox<State>

    private struct State {
        var spec: ListenerSpec
        var channel: Channel?
        var handler: NIOLoopBound<AnnouncementHandler>?
        /// Set by `stopAccepting`: no more sends, no more reopening.
        var stopped = false
        var reopenDelay = MulticastAnnouncer.firstReopenDelay
        var reopenTimer: Scheduled<Void>?
        /// When the current socket was opened: one that dies young (the network is still
        /// down) doubles the wait before the next attempt.
        var openedAt = NIODeadline.now()
    }

    static let firstReopenDelay = TimeAmount.seconds(1)
    static let maxReopenDelay = TimeAmount.seconds(30)
    /// A socket that worked this long before it failed starts the backoff over.
    static let healthyLifetime = TimeAmount.seconds(60)

    init(spec: ListenerSpec, context: ListenerContext) {
        guard spec.settings(as: MulticastSpec.self) != nil else { preconditionFailure("not a multicast-announcer spec") }
        self.context = context
        self.loop = context.group.next()
        self.state = NIOLockedValueBox(State(spec: spec))
    }

    var spec: ListenerSpec { state.withLockedValue { $0.spec } }

    var localDescription: String {
        guard let m = spec.settings(as: MulticastSpec.self) else { return "" }
        return m.destination.description
    }

    // MARK: Start

    func start() async throws {
        let spec = self.spec
        guard let m = spec.settings(as: MulticastSpec.self) else { return }
        let opened = try await open(spec, m, progress: AnnouncementHandler.Progress())
        try await install(opened)
        context.logger(for: spec).info(
            "Announcing: \(spec.label) every \(formatDuration(m.interval)) from \(opened.local) (\(Self.describe(m, opened.interface)))",
            metadata: ["event": "listening", "address": .string(m.destination.description)]
        )
        if let iface = opened.interface, !iface.multicastFlag, !iface.address.isLoopback {
            context.logger(for: spec).warning(
                "The interface \(iface.name) does not have the MULTICAST flag; announcements sent through it may go nowhere",
                metadata: ["event": "config-warning"]
            )
        }
    }

    /// A bound, configured socket with its handler, not yet announcing.
    private struct Opened: Sendable {
        /// The spec it was opened for.
        var spec: ListenerSpec
        var channel: Channel
        var handler: NIOLoopBound<AnnouncementHandler>
        var interface: MulticastInterface?
        var local: String
    }

    /// Resolves the interface, binds, sets the options and joins; closes what it opened and
    /// throws `ListenerStartError` on the first failure.
    private func open(_ spec: ListenerSpec, _ m: MulticastSpec, progress: AnnouncementHandler.Progress) async throws -> Opened {
        let target = m.destination.description + (m.interface.map { " via \($0)" } ?? "")
        var interface: MulticastInterface?
        if let setting = m.interface {
            switch MulticastInterface.resolveOnHost(setting, for: m.group) {
            case .success(let i): interface = i
            case .failure(let e):
                throw ListenerStartError(spec: spec, action: "configure", address: target, reason: e.description, errno: nil)
            }
        }
        if m.format == .locale { LocalTimeZone.reloadHostZone() }

        let settings = Self.settings(spec, m, hostName: context.hostName)
        let stats = self.stats
        let logger = context.logger(for: spec)
        let handlerBox = NIOLockedValueBox<NIOLoopBound<AnnouncementHandler>?>(nil)
        let bootstrap = DatagramBootstrap(group: loop)
            // Nothing to read: not even our own announcements reach the ephemeral port.
            .channelOption(.autoRead, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = AnnouncementHandler(settings: settings, progress: progress, stats: stats, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    handlerBox.withLockedValue { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                }
            }

        let bindAddress = m.group.isIPv4 ? "0.0.0.0" : "::"
        let channel: Channel
        do {
            channel = try await bootstrap.bind(host: bindAddress, port: 0).get()
        } catch {
            throw ListenerStartError(spec: spec, action: "bind", address: m.group.isIPv4 ? "0.0.0.0:0" : "[::]:0", error: error)
        }
        do {
            for option in MulticastSocketOption.all(for: m, interface: interface) {
                do {
                    try await option.apply(to: channel)
                } catch {
                    throw ListenerStartError(spec: spec, action: "configure", address: target,
                        reason: "setting \(option.name) to \(option.valueDescription): \(describeSocketError(error).0)", errno: describeSocketError(error).1)
                }
            }
            if m.joinGroup {
                do {
                    guard let multicast = channel as? MulticastChannel else { throw ChannelError.operationUnsupported }
                    try await multicast.joinGroup(try m.destination.socketAddress(), device: interface?.deviceForJoin).get()
                } catch {
                    throw ListenerStartError(spec: spec, action: "join", address: target, reason: Self.describeJoinError(error), errno: describeSocketError(error).1)
                }
            }
        } catch {
            try? await channel.close()
            throw error
        }
        guard let handler = handlerBox.withLockedValue({ $0 }) else {
            try? await channel.close()
            throw ListenerStartError(spec: spec, action: "configure", address: target, reason: "internal error: the announcement handler was not installed", errno: nil)
        }
        let local = channel.localAddress.flatMap(Endpoint.init)?.description ?? "\(bindAddress):0"
        return Opened(spec: spec, channel: channel, handler: handler, interface: interface, local: local)
    }

    /// Makes `opened` the announcer's socket and starts announcing, unless the announcer was
    /// stopped meanwhile (then the socket is closed).
    private func install(_ opened: Opened) async throws {
        let current = state.withLockedValue { s -> ListenerSpec? in
            guard !s.stopped else { return nil }
            s.channel = opened.channel
            s.handler = opened.handler
            s.openedAt = .now()
            return s.spec
        }
        guard let current else {
            try? await opened.channel.close()
            return
        }
        let channel = opened.channel
        channel.closeFuture.whenComplete { _ in self.socketClosed(channel) }
        // A reload that came while a replacement socket was being opened changed the spec
        // after it was read: apply what is current now (later reloads find the new handler).
        let refresh: AnnouncementHandler.Settings?
        if current != opened.spec, let m = current.settings(as: MulticastSpec.self) {
            refresh = Self.settings(current, m, hostName: context.hostName)
            for option in MulticastSocketOption.all(for: m, interface: nil) {
                try? await option.apply(to: channel)
            }
        } else {
            refresh = nil
        }
        let loop = self.loop
        try await loop.submit {
            if let refresh { opened.handler.value.apply(refresh, now: loop.now) }
            opened.handler.value.start()
        }.get()
    }

    // MARK: Replacing a socket NIO closed

    /// On `loop`, when a socket closes: unless the announcer closed it, open another later.
    private func socketClosed(_ channel: Channel) {
        let delay: TimeAmount? = state.withLockedValue { s in
            guard !s.stopped, s.channel === channel else { return nil }
            s.channel = nil
            if NIODeadline.now() - s.openedAt > Self.healthyLifetime {
                s.reopenDelay = Self.firstReopenDelay
            }
            defer { s.reopenDelay = min(s.reopenDelay * 2, Self.maxReopenDelay) }
            return s.reopenDelay
        }
        guard let delay else { return }
        let spec = self.spec
        context.logger(for: spec).error(
            "The announcement socket of \(spec.label) closed after a send error; opening a new one in \(formatDuration(Double(delay.nanoseconds) / 1e9))",
            metadata: ["event": "socket-closed"]
        )
        scheduleReopen(after: delay)
    }

    private func scheduleReopen(after delay: TimeAmount) {
        let timer = loop.scheduleTask(in: delay) {
            _ = Task { await self.reopen() }
        }
        state.withLockedValue { s in
            if s.stopped { timer.cancel() } else { s.reopenTimer = timer }
        }
    }

    private func reopen() async {
        let (spec, handler, stopped) = state.withLockedValue { ($0.spec, $0.handler, $0.stopped) }
        guard !stopped, let m = spec.settings(as: MulticastSpec.self) else { return }
        let logger = context.logger(for: spec)
        // The old handler's progress, read on its loop: the stream continues where it stopped.
        let progress = try? await loop.submit { handler?.value.progress }.get()
        do {
            let opened = try await open(spec, m, progress: (progress ?? nil) ?? AnnouncementHandler.Progress())
            logger.notice("Announcing again: \(spec.label) from \(opened.local)", metadata: ["event": "reopened"])
            try await install(opened)
        } catch {
            let delay = state.withLockedValue { s -> TimeAmount in
                defer { s.reopenDelay = min(s.reopenDelay * 2, Self.maxReopenDelay) }
                return s.reopenDelay
            }
            logger.error("\(error); trying again in \(formatDuration(Double(delay.nanoseconds) / 1e9))", metadata: ["event": "reopen-failed"])
            scheduleReopen(after: delay)
        }
    }

    // MARK: Reload

    /// In place: format, interval, ttl and loopback (the socket, the schedule's phase and the
    /// sequence stay). A new group, port, interface or joinGroup restarts the listener: a new
    /// destination is a new stream (its `seq` starts at 0 again), and an interface or
    /// membership change can fail, which a restart reports and rolls back.
    func canUpdate(to newSpec: ListenerSpec) -> Bool {
        guard let new = newSpec.settings(as: MulticastSpec.self), let old = spec.settings(as: MulticastSpec.self) else { return false }
        return new.group == old.group && new.port == old.port && new.interface == old.interface && new.joinGroup == old.joinGroup
    }

    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async {
        guard let m = newSpec.settings(as: MulticastSpec.self) else { return }
        let logger = context.logger(for: newSpec)
        let (channel, handler) = state.withLockedValue { s -> (Channel?, NIOLoopBound<AnnouncementHandler>?) in
            s.spec = newSpec
            return (s.channel, s.handler)
        }
        if m.format == .locale { LocalTimeZone.reloadHostZone() }
        let settings = Self.settings(newSpec, m, hostName: context.hostName)
        let loop = self.loop
        _ = try? await loop.submit { handler?.value.apply(settings, now: loop.now) }.get()
        // A socket being replaced gets the new options when it is opened.
        if let channel {
            for option in MulticastSocketOption.all(for: m, interface: nil) {
                do {
                    try await option.apply(to: channel)
                } catch {
                    logger.error("Failed to update \(newSpec.label): setting \(option.name) to \(option.valueDescription): \(describeSocketError(error).0)", metadata: ["event": "update-failed"])
                }
            }
        }
        logger.info("Updated \(newSpec.label) in place (\(Self.describe(m, nil)))", metadata: ["event": "updated"])
    }

    // MARK: Stop

    func stopAccepting() async {
        let (channel, handler, timer) = state.withLockedValue { s -> (Channel?, NIOLoopBound<AnnouncementHandler>?, Scheduled<Void>?) in
            s.stopped = true
            defer { s.channel = nil; s.reopenTimer = nil }
            return (s.channel, s.handler, s.reopenTimer)
        }
        timer?.cancel()
        _ = try? await loop.submit { handler?.value.stop() }.get()
        // Closing the socket also drops its group membership.
        try? await channel?.close()
    }

    /// Nothing to drain: an announcement is one datagram, written or not by the time the
    /// socket closes.
    func drain(gracePeriod: TimeAmount) async {}

    // MARK: Helpers

    static func settings(_ spec: ListenerSpec, _ m: MulticastSpec, hostName: String) -> AnnouncementHandler.Settings {
        AnnouncementHandler.Settings(
            // The group is a validated literal, so this cannot fail.
            destination: try! m.destination.socketAddress(),
            interval: .nanoseconds(Int64((m.interval * 1e9).rounded())),
            formatter: AnnouncementFormatter(format: m.format, host: hostName, listener: spec.name)
        )
    }

    static func describe(_ m: MulticastSpec, _ interface: MulticastInterface?) -> String {
        var parts = ["format \(m.format.rawValue)", "\(m.group.isIPv4 ? "ttl" : "hop limit") \(m.ttl)", "loopback \(m.loopback ? "on" : "off")"]
        if let interface { parts.append("interface \(interface.description)") }
        else if let setting = m.interface { parts.append("interface \(setting)") }
        else { parts.append("interface chosen by the routing table") }
        if m.joinGroup { parts.append("joined the group") }
        return parts.joined(separator: ", ")
    }

    static func describeJoinError(_ error: Error) -> String {
        if let e = error as? NIOMulticastNotSupportedError {
            return "the interface \(e.device.name) does not support multicast (no MULTICAST flag)"
        }
        return describeSocketError(error).0
    }
}
