import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetRelayConfig

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
final class AnnouncerListener: TypedListener {
    /// Everything it holds while running is in `socket`.
    struct Running: Sendable {}

    let stats: ListenerStats
    let core: ListenerCore<AnnouncerListener>
    /// How late each announcement's timer fired, across the sockets it opens.
    private let lateness: LatencyHistogram
    private let hostName: String
    /// Every socket of this announcer lives on this one loop (see `AnnouncementSocketOpener`).
    private let loop: EventLoop
    private let opener: AnnouncementSocketOpener
    private let socket: ReopeningSocket<AnnouncementSocket>

    /// 1 s, doubling up to 30 s; a socket that worked for 60 s before it failed starts over.
    static let reopenBackoff = Backoff(first: .seconds(1), limit: .seconds(30), healthyLifetime: .seconds(60))

    init(name: String, spec: AnnouncerSpec, context: ListenerContext, hostName: String) {
        let stats = ListenerStats()
        let loop = context.group.next()
        let core = ListenerCore<AnnouncerListener>(name: name, spec: spec, context: context,
                                                    address: spec.destination.description, running: Running())
        let lateness = LatencyHistogram()
        self.lateness = lateness
        let opener = AnnouncementSocketOpener(context: context, loop: loop, stats: stats, lateness: lateness, hostName: hostName)
        self.hostName = hostName
        self.stats = stats
        self.loop = loop
        self.core = core
        self.opener = opener
        self.socket = ReopeningSocket(backoff: Self.reopenBackoff, steps: .init(
            channel: { $0.channel },
            closed: { delay in
                core.logger.error("The announcement socket of \(core.erasedSpec.label) closed after a send error; opening a new one in \(formatDuration(Double(delay.nanoseconds) / 1e9))",
                                  metadata: ["event": "socket-closed"])
            },
            reopen: { last in
                // The old handler's progress, read on its loop: the stream continues where it stopped.
                let progress = try? await loop.submit { last?.handler.value.progress }.get()
                return try await opener.open(core.erasedSpec, core.spec, progress: (progress ?? nil) ?? AnnouncementHandler.Progress())
            },
            reopened: { socket in
                core.logger.notice("Announcing again: \(core.erasedSpec.label) from \(socket.local)", metadata: ["event": "reopened"])
                try? await opener.startAnnouncing(socket, current: core.erasedSpec, core.spec)
            },
            failed: { error, delay in
                core.logger.error("\(error); trying again in \(formatDuration(Double(delay.nanoseconds) / 1e9))", metadata: ["event": "reopen-failed"])
            }
        ))
    }

    // MARK: Start and stop

    func serve(_ m: AnnouncerSpec) async throws -> StartReport {
        let spec = core.erasedSpec
        let opened = try await opener.open(spec, m, progress: AnnouncementHandler.Progress())
        guard socket.install(opened) else {
            try? await opened.channel.close()
            throw ListenerStartError(spec: spec, action: "bind", address: opened.local, reason: "stopped while starting", errno: nil)
        }
        try await opener.startAnnouncing(opened, current: core.erasedSpec, core.spec)
        var warnings: [String] = []
        if let iface = opened.interface, !iface.multicastFlag, !iface.address.isLoopback {
            warnings.append("The interface \(iface.name) does not have the MULTICAST flag; announcements sent through it may go nowhere")
        }
        return StartReport(headline: "Announcing: \(spec.label) every \(formatDuration(m.interval)) from \(opened.local)",
                           line: ServingLine(details: Self.describe(m, opened.interface)), warnings: warnings)
    }

    /// An announcement is one datagram: nothing to drain or hand over.
    var connections: any ListenerConnections { NoConnections(core) }

    func closeSockets() async {
        let channel = socket.stop()?.channel
        let handler = socket.last?.handler
        _ = try? await loop.submit { handler?.value.stop() }.get()
        // Closing the socket also drops its group membership.
        try? await channel?.close()
    }

    // MARK: Reload

    /// In place: format, interval, ttl and loopback (the socket, the schedule's phase and the
    /// sequence stay). A new group, port, interface or joinGroup restarts the listener: a new
    /// destination is a new stream (its `seq` starts at 0 again), and an interface or
    /// membership change can fail, which a restart reports and rolls back.
    func canUpdate(from old: AnnouncerSpec, to new: AnnouncerSpec) -> Bool {
        new.group == old.group && new.port == old.port && new.interface == old.interface && new.joinGroup == old.joinGroup
    }

    func apply(_ m: AnnouncerSpec, gracePeriod: TimeAmount) async -> ServingLine? {
        core.withState { $0.spec = m }
        let spec = core.erasedSpec
        // A socket being replaced (no current one) gets the new options when it is opened.
        let (channel, handler) = (socket.current?.channel, socket.last?.handler)
        if m.format == .locale { LocalTimeZone.reloadHostZone() }
        let setup = AnnouncementSocketOpener.setup(spec, m, hostName: hostName)
        let loop = self.loop
        _ = try? await loop.submit { handler?.value.apply(setup, now: loop.now) }.get()
        if let channel {
            for option in AnnouncerSocketOption.all(for: m, interface: nil) {
                do {
                    try await option.apply(to: channel)
                } catch {
                    core.logger.error("Failed to update \(spec.label): setting \(option.name) to \(option.valueDescription): \(describeSocketError(error).0)",
                                      metadata: ["event": "update-failed"])
                }
            }
        }
        return ServingLine(details: Self.describe(m, nil))
    }

    static let latenessFamily = ExtraFamily(name: "netrelayd_announcement_lateness_seconds", kind: .histogram,
                                            help: "How late each announcement's timer fired, in seconds.", labels: [])

    var extras: ListenerExtras {
        ListenerExtras(samples: [ExtraSample(Self.latenessFamily, .histogram(lateness.snapshot()))])
    }

    func revalidate() async throws {
        // The interface is resolved again whenever the socket is reopened, not on reload.
    }

    static func describe(_ m: AnnouncerSpec, _ interface: AnnouncerInterface?) -> String {
        var parts = ["format \(m.format.rawValue)", "\(m.group.isIPv4 ? "ttl" : "hop limit") \(m.ttl)", "loopback \(m.loopback ? "on" : "off")"]
        if let interface { parts.append("interface \(interface.description)") }
        else if let setting = m.interface { parts.append("interface \(setting)") }
        else { parts.append("interface chosen by the routing table") }
        if m.joinGroup { parts.append("joined the group") }
        return parts.joined(separator: ", ")
    }
}
