import Atomics
import NIOCore
import NIOPosix
import NetRelayConfig

/// A timer on every event loop that measures how late the loop runs it: the lateness goes into
/// a histogram for `/metrics`, and the time of the last beat decides `/-/healthy`. This is the
/// watchdog's idea (a loop stuck in a handler stops beating) without WATCHDOG_USEC: the HTTP
/// endpoint works outside systemd too, and one timer per loop per `period` costs nothing.
public final class LoopHeartbeat: Sendable {
    public let period: TimeAmount
    /// A loop whose last beat is older than this is unhealthy.
    public let staleAfter: TimeAmount
    private let loops: [any EventLoop]
    private let lastBeat: [ManagedAtomic<UInt64>]
    private let histograms: [LatencyHistogram]
    private let stopped = ManagedAtomic<Bool>(false)

    public init(group: MultiThreadedEventLoopGroup, period: TimeAmount = .milliseconds(500), staleAfter: TimeAmount = .seconds(3)) {
        self.period = period
        self.staleAfter = staleAfter
        loops = Array(group.makeIterator())
        let now = NIODeadline.now().uptimeNanoseconds
        lastBeat = loops.map { _ in ManagedAtomic<UInt64>(now) }
        histograms = loops.map { _ in LatencyHistogram() }
    }

    public func start() {
        for index in loops.indices { arm(index, deadline: .now() + period) }
    }

    public func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    private func arm(_ index: Int, deadline: NIODeadline) {
        loops[index].scheduleTask(deadline: deadline) { [self] in
            guard !stopped.load(ordering: .relaxed) else { return }
            let now = NIODeadline.now()
            histograms[index].observe(nanoseconds: (now - deadline).nanoseconds)
            lastBeat[index].store(now.uptimeNanoseconds, ordering: .relaxed)
            arm(index, deadline: now + period)
        }
    }

    /// Every loop's lateness, as one histogram.
    public func lateness() -> HistogramSnapshot {
        histograms.reduce(HistogramSnapshot.empty) { $0.merged(with: $1.snapshot()) }
    }

    /// Nil when every loop beat recently; else why not ("event loop 1 has not answered for 4.2 s").
    public func unhealthyReason(now: NIODeadline = .now()) -> String? {
        for (index, beat) in lastBeat.enumerated() {
            let age = Int64(now.uptimeNanoseconds) - Int64(beat.load(ordering: .relaxed))
            if age > staleAfter.nanoseconds {
                return "event loop \(index) has not answered its heartbeat for \(formatSeconds(Double(age) / 1e9)) s"
            }
        }
        return nil
    }
}
