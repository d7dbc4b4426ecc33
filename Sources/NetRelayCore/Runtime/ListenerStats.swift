import Atomics
import NetRelayConfig

/// What a listener counts. Handlers add to these from their event loop; the supervisor reads
/// them for STATUS= and the per-listener summary. Relaxed atomics: counts, not synchronisation.
public enum Counter: Int, CaseIterable, Sendable {
    case connectionsAccepted
    case refusedOverLimit
    case refusedPerSource
    case refusedDenied
    case closedIdle
    case closedNotReading
    case bytesIn
    case bytesOut
    case datagramsIn
    case datagramsOut
    case droppedRateLimited
    case droppedOversize
    case droppedBadSource
    case droppedOwnPacket
    case droppedSourceNotAllowed
    case sendErrors
    /// Replies (or rebroadcasts) dropped because NIO's queue of unsent datagrams was full.
    case droppedSendQueueFull
    case announcements
    case missedDeadlines
    /// Datagrams the kernel dropped before the handler saw them: those carrying our relay mark
    /// (already rebroadcast or answered by a netrelayd; the socket filter), and those lost to a
    /// full receive queue. One kernel counter (SO_MEMINFO) holds both.
    case droppedInKernel
    /// 0-byte datagrams not answered (replyToEmpty false).
    case droppedEmpty
    /// Over the listener's totalRateLimit (all sources together).
    case droppedTotalRateLimit
    /// accept() calls that failed at RLIMIT_NOFILE (EMFILE/ENFILE); each left at least one
    /// connection waiting in the backlog.
    case refusedFdLimit
    /// Connections closed because the daemon-wide memory budget was exceeded.
    case closedMemoryBudget
    /// A rebroadcaster's datagram from an interface not in `listenInterfaces`.
    case droppedInterfaceNotListed
    /// Targets left out for a datagram because they go back out of the interface it came in on.
    case skippedIngressTarget
    /// Our own relayed broadcasts looped back to our socket by the host and dropped in the kernel
    /// by the relay mark (split off `droppedInKernel`: expected, one per broadcast sent to our port).
    case ownEchoesDroppedInKernel
    /// Established connections adopted from the previous instance (systemd's fd store).
    case connectionsAdopted
    /// Listening or bound sockets adopted from the previous instance (0 or 1 per start; up to
    /// one per event loop for a udp-responder, `DatagramSpread`).
    case socketsAdopted

    /// How the counter reads in a summary line.
    public var label: String {
        switch self {
        case .connectionsAccepted: return "accepted"
        case .refusedOverLimit: return "refused over maxConnections"
        case .refusedPerSource: return "refused over maxConnectionsPerSource"
        case .refusedDenied: return "refused by allow/deny"
        case .closedIdle: return "closed idle"
        case .closedNotReading: return "closed not reading"
        case .bytesIn: return "bytes in"
        case .bytesOut: return "bytes out"
        case .datagramsIn: return "datagrams in"
        case .datagramsOut: return "datagrams out"
        case .droppedRateLimited: return "dropped by rate limit"
        case .droppedOversize: return "dropped oversize"
        case .droppedBadSource: return "dropped bad source"
        case .droppedOwnPacket: return "dropped own packets"
        case .droppedSourceNotAllowed: return "dropped source not allowed"
        case .sendErrors: return "send errors"
        case .droppedSendQueueFull: return "dropped send queue full"
        case .announcements: return "announcements"
        case .missedDeadlines: return "missed deadlines"
        case .droppedInKernel: return "dropped in kernel (relay mark or full queue)"
        case .droppedEmpty: return "dropped empty"
        case .droppedTotalRateLimit: return "dropped by total rate limit"
        case .refusedFdLimit: return "refused at the fd limit"
        case .closedMemoryBudget: return "closed over the memory budget"
        case .droppedInterfaceNotListed: return "dropped from interfaces not in listenInterfaces"
        case .skippedIngressTarget: return "not sent back out of the ingress interface"
        case .ownEchoesDroppedInKernel: return "own broadcasts heard back (dropped in kernel)"
        case .connectionsAdopted: return "adopted from the previous instance"
        case .socketsAdopted: return "sockets adopted from the previous instance"
        }
    }
}

public final class ListenerStats: Sendable {
    private let counters: [ManagedAtomic<Int>]
    /// Open TCP connections (a gauge, not a counter).
    public let openConnections = ManagedAtomic<Int>(0)
    /// Whether the listener is backing off because accept() found no free file descriptor.
    public let atFdLimit = ManagedAtomic<Bool>(false)

    public init() {
        counters = Counter.allCases.map { _ in ManagedAtomic<Int>(0) }
    }

    @inline(__always)
    public func add(_ counter: Counter, _ n: Int = 1) {
        counters[counter.rawValue].wrappingIncrement(by: n, ordering: .relaxed)
    }

    public func value(_ counter: Counter) -> Int {
        counters[counter.rawValue].load(ordering: .relaxed)
    }

    public var open: Int { openConnections.load(ordering: .relaxed) }
}
