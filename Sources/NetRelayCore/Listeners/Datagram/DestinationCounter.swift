import Atomics

/// What went to one destination of a relay and what failed, counted by the outbox as it sends
/// (relaxed atomics, added from the event loop) and read by the kind's extras: a rebroadcaster's
/// target.
public final class DestinationCounter: Sendable {
    /// How the destination reads in summaries and metric labels: "eth1" or "10.0.2.255:2002".
    public let label: String
    let sentCount = ManagedAtomic<Int>(0)
    let errorCount = ManagedAtomic<Int>(0)

    init(label: String) { self.label = label }

    @inline(__always) func addSent(_ n: Int) { sentCount.wrappingIncrement(by: n, ordering: .relaxed) }
    @inline(__always) func addError(_ n: Int) { errorCount.wrappingIncrement(by: n, ordering: .relaxed) }
    public var sent: Int { sentCount.load(ordering: .relaxed) }
    public var errors: Int { errorCount.load(ordering: .relaxed) }
}
