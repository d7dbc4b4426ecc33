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

    /// Whether listeners of `kind` count this (the others export no series for it). Also
    /// exhaustive: a new counter says which kinds count it.
    public func applies(to kind: ListenerKindTag) -> Bool {
        switch self {
        case .connectionsAccepted, .refusedOverLimit, .refusedPerSource, .refusedDenied, .closedIdle, .closedNotReading, .bytesIn, .bytesOut,
             .refusedFdLimit, .closedMemoryBudget:
            return kind == .tcpEcho
        case .datagramsIn, .datagramsOut, .droppedRateLimited, .droppedOversize, .droppedSendQueueFull, .droppedInKernel, .droppedTotalRateLimit:
            return kind == .udpResponder || kind == .broadcastRebroadcaster
        case .droppedBadSource, .droppedEmpty:
            return kind == .udpResponder
        case .droppedOwnPacket, .droppedSourceNotAllowed, .droppedInterfaceNotListed, .skippedIngressTarget, .ownEchoesDroppedInKernel:
            return kind == .broadcastRebroadcaster
        case .sendErrors:
            return kind != .tcpEcho
        case .announcements, .missedDeadlines:
            return kind == .multicastAnnouncer
        case .connectionsAdopted:
            return kind == .tcpEcho
        case .socketsAdopted:
            return kind != .multicastAnnouncer
        }
    }
}

/// A listener's kind without its settings, for labels and the families it exports.
public enum ListenerKindTag: Sendable, Equatable, CaseIterable {
    case tcpEcho, udpResponder, broadcastRebroadcaster, multicastAnnouncer

    public init(_ kind: ListenerSpec.Kind) {
        switch kind {
        case .tcpEcho: self = .tcpEcho
        case .udpResponder: self = .udpResponder
        case .broadcastRebroadcaster: self = .broadcastRebroadcaster
        case .multicastAnnouncer: self = .multicastAnnouncer
        }
    }

    /// The config's kind word (the `kind` label).
    public var name: String {
        switch self {
        case .tcpEcho: return ListenerKindName.tcpEcho
        case .udpResponder: return ListenerKindName.udpResponder
        case .broadcastRebroadcaster: return ListenerKindName.broadcastRebroadcaster
        case .multicastAnnouncer: return ListenerKindName.multicastAnnouncer
        }
    }
}
