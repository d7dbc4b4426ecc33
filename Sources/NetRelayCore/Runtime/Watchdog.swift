import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetRelayConfig

/// Sends WATCHDOG=1 at half the service manager's watchdog interval, from the event loops
/// themselves: every loop records a heartbeat on a timer, and the first loop pings only
/// when all heartbeats are fresh. A loop stuck in a handler stops its heartbeats, the pings
/// stop, and systemd restarts the daemon.
public final class Watchdog: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let period: TimeAmount
    private let notifier: any ServiceNotifier
    private let heartbeats: NIOLockedValueBox<[NIODeadline]>
    private let tasks = NIOLockedValueBox<[RepeatedTask]>([])

    /// `interval` is WATCHDOG_USEC; pings go out every `interval / 2`.
    public init(group: MultiThreadedEventLoopGroup, interval: TimeAmount, notifier: any ServiceNotifier) {
        self.group = group
        self.period = .nanoseconds(max(interval.nanoseconds / 2, 1_000_000))
        self.notifier = notifier
        let loops = Array(group.makeIterator())
        self.heartbeats = NIOLockedValueBox([NIODeadline](repeating: .now(), count: loops.count))
    }

    public func start() {
        let loops = Array(group.makeIterator())
        let stale = TimeAmount.nanoseconds(period.nanoseconds * 3 / 2)
        var started: [RepeatedTask] = []
        for (index, loop) in loops.enumerated() {
            let task = loop.scheduleRepeatedTask(initialDelay: .zero, delay: period) { [heartbeats, notifier] _ in
                let now = NIODeadline.now()
                let allFresh = heartbeats.withLockedValue { beats -> Bool in
                    beats[index] = now
                    return beats.allSatisfy { now - $0 <= stale }
                }
                if index == 0 && allFresh {
                    notifier.notify([.watchdog])
                }
            }
            started.append(task)
        }
        tasks.withLockedValue { $0 = started }
    }

    public func stop() {
        let running = tasks.withLockedValue { t -> [RepeatedTask] in
            defer { t = [] }
            return t
        }
        for t in running { t.cancel() }
    }
}
