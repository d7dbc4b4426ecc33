import NetRelayConfig

/// The Prometheus families netrelayd exports from listener counters.
public enum MetricFamily: String, Sendable, CaseIterable {
    case connectionsAccepted = "netrelayd_connections_accepted_total"
    case connectionsRefused = "netrelayd_connections_refused_total"
    case connectionsClosed = "netrelayd_connections_closed_total"
    case receivedBytes = "netrelayd_received_bytes_total"
    case sentBytes = "netrelayd_sent_bytes_total"
    case datagramsReceived = "netrelayd_datagrams_received_total"
    case datagramsSent = "netrelayd_datagrams_sent_total"
    case datagramsDropped = "netrelayd_datagrams_dropped_total"
    case announcements = "netrelayd_announcements_total"
    case announcementsMissed = "netrelayd_announcements_missed_total"
    case relayNotSentBack = "netrelayd_relay_not_sent_back_total"
    case relayOwnEchoes = "netrelayd_relay_own_echoes_total"
    case connectionsAdopted = "netrelayd_adopted_connections_total"
    case socketsAdopted = "netrelayd_adopted_sockets_total"

    public var help: String {
        switch self {
        case .connectionsAccepted: return "TCP connections accepted (including those refused right after accept)."
        case .connectionsRefused: return "TCP connections closed at accept, by reason."
        case .connectionsClosed: return "TCP connections the daemon closed, by reason."
        case .receivedBytes: return "Payload bytes received."
        case .sentBytes: return "Payload bytes sent."
        case .datagramsReceived: return "Datagrams received."
        case .datagramsSent: return "Datagrams sent (replies, rebroadcasts)."
        case .datagramsDropped: return "Datagrams dropped or not sent, by reason."
        case .announcements: return "Multicast announcements sent."
        case .announcementsMissed: return "Announcement deadlines skipped because the timer fired too late."
        case .relayOwnEchoes: return "Own broadcasts the host looped back to the rebroadcaster's socket, dropped in the kernel by the relay mark (expected: one per broadcast to the listen port)."
        case .relayNotSentBack: return "Broadcasts not relayed to a target on the interface and port they came in on (heard there already)."
        case .connectionsAdopted: return "TCP connections adopted from the previous instance at a restart (systemd's fd store)."
        case .socketsAdopted: return "Listening sockets adopted from the previous instance at a restart (systemd's fd store)."
        }
    }
}

extension Counter {
    /// The family and `reason` label this counter is exported as. Exhaustive on purpose: a new
    /// counter does not compile until it has a metric.
    public var metric: (family: MetricFamily, reason: String?) {
        switch self {
        case .connectionsAccepted: return (.connectionsAccepted, nil)
        case .refusedOverLimit: return (.connectionsRefused, "over_limit")
        case .refusedPerSource: return (.connectionsRefused, "per_source")
        case .refusedDenied: return (.connectionsRefused, "denied")
        case .closedIdle: return (.connectionsClosed, "idle")
        case .closedNotReading: return (.connectionsClosed, "not_reading")
        case .bytesIn: return (.receivedBytes, nil)
        case .bytesOut: return (.sentBytes, nil)
        case .datagramsIn: return (.datagramsReceived, nil)
        case .datagramsOut: return (.datagramsSent, nil)
        case .droppedRateLimited: return (.datagramsDropped, "rate_limit")
        case .droppedOversize: return (.datagramsDropped, "oversize")
        case .droppedBadSource: return (.datagramsDropped, "bad_source")
        case .droppedOwnPacket: return (.datagramsDropped, "own_packet")
        case .droppedSourceNotAllowed: return (.datagramsDropped, "not_allowed")
        case .droppedSendQueueFull: return (.datagramsDropped, "send_queue_full")
        case .sendErrors: return (.datagramsDropped, "send_error")
        case .announcements: return (.announcements, nil)
        case .missedDeadlines: return (.announcementsMissed, nil)
        case .refusedFdLimit: return (.connectionsRefused, "fd_limit")
        case .closedMemoryBudget: return (.connectionsClosed, "memory_budget")
        case .droppedInKernel: return (.datagramsDropped, "kernel")
        case .droppedEmpty: return (.datagramsDropped, "empty")
        case .droppedTotalRateLimit: return (.datagramsDropped, "total_rate_limit")
        case .droppedInterfaceNotListed: return (.datagramsDropped, "interface_not_listed")
        case .skippedIngressTarget: return (.relayNotSentBack, nil)
        case .ownEchoesDroppedInKernel: return (.relayOwnEchoes, nil)
        case .connectionsAdopted: return (.connectionsAdopted, nil)
        case .socketsAdopted: return (.socketsAdopted, nil)
        }
    }
}

/// A listener's kind as `/metrics` and `/status.json` see it: its name (the `kind` label) and
/// what its listeners export. Made from the kind's row in the table of kinds (`ListenerKind.tag`).
public struct ListenerKindTag: Sendable, Equatable {
    /// The config's kind word.
    public var name: String
    /// The counters listeners of this kind keep (the others export no series for them).
    public var counters: [Counter]
    /// The families its listeners' extras have samples of (`ListenerExtras.samples`).
    public var families: [ExtraFamily]
    /// Whether its listeners hold connections (`netrelayd_connections_open`, "openConnections").
    public var holdsConnections: Bool

    public init(name: String, counters: [Counter], families: [ExtraFamily], holdsConnections: Bool) {
        self.name = name
        self.counters = counters
        self.families = families
        self.holdsConnections = holdsConnections
    }

    /// Whether its listeners drop datagrams: they have a `dropped` total.
    public var dropsDatagrams: Bool {
        counters.contains { $0.metric.family == .datagramsDropped } || families.contains { $0.name == MetricFamily.datagramsDropped.rawValue }
    }
}

extension Counter {
    /// Whether listeners of `kind` count this.
    public func applies(to kind: ListenerKindTag) -> Bool {
        kind.counters.contains(self)
    }
}
