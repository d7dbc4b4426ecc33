import NetRelayConfig

/// Counters a datagram handler keeps in plain integers while a read batch is delivered, and
/// publishes to the listener's atomics once per batch: one atomic add per counter that moved,
/// instead of one per datagram.
struct DatagramTally {
    private var counts = [Int](repeating: 0, count: Counter.allCases.count)
    private var dirty = false

    @inline(__always)
    mutating func add(_ counter: Counter, _ n: Int = 1) {
        counts[counter.rawValue] &+= n
        dirty = true
    }

    mutating func publish(to stats: ListenerStats) {
        guard dirty else { return }
        dirty = false
        for i in counts.indices where counts[i] != 0 {
            stats.add(Counter(rawValue: i)!, counts[i])
            counts[i] = 0
        }
    }
}
