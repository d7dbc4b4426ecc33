import Atomics
import NetRelayConfig

/// A fixed-bucket histogram of durations, for Prometheus: one relaxed atomic add per bucket
/// hit, read at scrape time. Updated once per announcement or heartbeat, never per packet.
public final class LatencyHistogram: Sendable {
    /// Upper bounds in seconds (the `le` labels); `+Inf` is implied.
    public static let bounds: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// Per-bucket counts (not cumulative); the last one is above every bound.
    private let buckets: [ManagedAtomic<Int>]
    private let sumNanoseconds = ManagedAtomic<Int>(0)

    public init() {
        buckets = (0...LatencyHistogram.bounds.count).map { _ in ManagedAtomic<Int>(0) }
    }

    /// Records one observation; negative durations (a timer that fired early) count as 0.
    public func observe(nanoseconds: Int64) {
        let ns = max(0, Int(nanoseconds))
        let seconds = Double(ns) / 1e9
        let index = LatencyHistogram.bounds.firstIndex { seconds <= $0 } ?? LatencyHistogram.bounds.count
        buckets[index].wrappingIncrement(ordering: .relaxed)
        sumNanoseconds.wrappingIncrement(by: ns, ordering: .relaxed)
    }

    public func snapshot() -> HistogramSnapshot {
        HistogramSnapshot(bucketCounts: buckets.map { $0.load(ordering: .relaxed) },
                          sumSeconds: Double(sumNanoseconds.load(ordering: .relaxed)) / 1e9)
    }
}

/// A histogram read at one moment.
public struct HistogramSnapshot: Sendable, Equatable {
    /// Per-bucket counts (not cumulative), one per `LatencyHistogram.bounds` plus `+Inf`.
    public var bucketCounts: [Int]
    public var sumSeconds: Double

    public init(bucketCounts: [Int], sumSeconds: Double) {
        self.bucketCounts = bucketCounts
        self.sumSeconds = sumSeconds
    }

    public static let empty = HistogramSnapshot(bucketCounts: [Int](repeating: 0, count: LatencyHistogram.bounds.count + 1), sumSeconds: 0)

    public var count: Int { bucketCounts.reduce(0, +) }

    /// Adds another histogram's counts (the loops' heartbeats are reported as one).
    public func merged(with other: HistogramSnapshot) -> HistogramSnapshot {
        HistogramSnapshot(bucketCounts: zip(bucketCounts, other.bucketCounts).map { $0 + $1 }, sumSeconds: sumSeconds + other.sumSeconds)
    }
}
