import NetRelayConfig

/// How a datagram listener uses every event loop (`eventLoopThreads` N): a spec whose footprint
/// has a socket per loop binds N sockets to its address with SO_REUSEPORT, one per loop, and a reuseport BPF program
/// (`SourceSteering`) hands each datagram to one of them by its source address alone (IPv6: the
/// /64), so one source address stays on one socket (and one loop) whatever its source ports.
/// With N = 1 it binds one socket, with SO_REUSEPORT only when the config asks.
///
/// Per-source state (the rate-limit table) lives per socket: a source address lands on one
/// socket. (Without the program, which a warning reports, the kernel's 4-tuple hash would give
/// one address on many ports up to N x rateLimit.)
/// A listener-wide rate (`totalRateLimit`) is split evenly: each socket gets rate / N and its
/// share of the burst, so the listener as a whole never goes over the configured rate, with no
/// shared state between loops. The price: sources that all hash to one socket get only that
/// socket's share (with one source and no per-source limit, rate / N).
enum DatagramSpread {
    /// Socket `index`'s share of a listener-wide `rate` (per second) and `burst` over `count`
    /// sockets: rate / count, and burst / count with the remainder to the first sockets (so the
    /// shares add up to `burst`), at least 1. A rate of 0 (no limit) stays 0.
    static func share(rate: Double, burst: Int, index: Int, count: Int) -> (rate: Double, burst: Int) {
        guard count > 1 else { return (rate, burst) }
        let base = burst / count
        let extra = index < burst % count ? 1 : 0
        return (rate / Double(count), max(1, base + extra))
    }
}
