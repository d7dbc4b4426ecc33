import NIOCore
import NetRelayConfig

/// How long to wait before opening a socket again: `first`, then twice as long after each
/// failure, up to `limit`. A socket that lived at least `healthyLifetime` before it closed
/// starts the sequence over; one that dies young (the network is still down, a send error
/// repeats on every datagram) keeps it growing, so a failure that repeats does not become a
/// busy loop.
struct Backoff: Sendable, Equatable {
    let first: TimeAmount
    let limit: TimeAmount
    let healthyLifetime: TimeAmount
    /// The delay `next()` hands out.
    private(set) var upcoming: TimeAmount

    init(first: TimeAmount, limit: TimeAmount, healthyLifetime: TimeAmount) {
        self.first = first
        self.limit = max(limit, first)
        self.healthyLifetime = healthyLifetime
        self.upcoming = first
    }

    /// The delay before the next attempt; the one after it is twice as long (up to `limit`).
    mutating func next() -> TimeAmount {
        defer { upcoming = min(upcoming * 2, limit) }
        return upcoming
    }

    /// Starts over at `first`.
    mutating func reset() {
        upcoming = first
    }

    /// The delay before reopening a socket that closed after being open for `lifetime`.
    mutating func afterClose(lifetime: TimeAmount) -> TimeAmount {
        if lifetime >= healthyLifetime { reset() }
        return next()
    }
}
