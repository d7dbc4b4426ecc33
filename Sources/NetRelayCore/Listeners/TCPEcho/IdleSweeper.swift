import NIOConcurrencyHelpers
import NIOCore
import NetRelayConfig

/// Finds a listener's idle connections on one event loop with one periodic sweep, instead of a
/// timer per connection: scheduling and cancelling a NIO timer for every connection cost about
/// 9,000 instructions per connection (a tenth of accepting one), and kept a closure alive per
/// connection. A connection is closed between `timeout` and `timeout + tick` after its last
/// activity. The sweep runs only while the loop has connections to watch.
final class IdleSweeper {
    let timeout: TimeAmount
    let tick: TimeAmount
    private let eventLoop: EventLoop
    private var members: [IdleTimeoutHandler] = []
    private var task: RepeatedTask?

    init(timeout: TimeAmount, eventLoop: EventLoop) {
        self.timeout = timeout
        // A quarter of the timeout, at most a second: precise enough, and few wake-ups.
        self.tick = .nanoseconds(min(max(timeout.nanoseconds / 4, 1_000_000), 1_000_000_000))
        self.eventLoop = eventLoop
    }

    var count: Int { members.count }

    func add(_ handler: IdleTimeoutHandler) {
        eventLoop.preconditionInEventLoop()
        guard handler.sweepIndex == nil else { return }
        handler.sweepIndex = members.count
        members.append(handler)
        if task == nil {
            let me = NIOLoopBound(self, eventLoop: eventLoop)
            task = eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
                me.value.sweep()
            }
        }
    }

    func remove(_ handler: IdleTimeoutHandler) {
        guard let i = handler.sweepIndex else { return }
        handler.sweepIndex = nil
        let last = members.removeLast()
        if i < members.count {
            members[i] = last
            last.sweepIndex = i
        }
        if members.isEmpty {
            task?.cancel()
            task = nil
        }
    }

    private func sweep() {
        let now = eventLoop.now
        // Collect first: closing a connection removes it from `members`. (Compare durations:
        // a deadline minus the timeout would clamp at zero early in a loop's life.)
        let idle = members.filter { now - $0.lastActivity >= timeout }
        for handler in idle { handler.expire() }
    }
}

/// One sweeper per event loop for the connections of one listener generation (an in-place
/// update with a new idleTimeout gets a new set). Sendable: sweepers are created under a
/// lock and used only on their own loop.
final class IdleSweepers: Sendable {
    let timeout: TimeAmount
    private let byLoop = NIOLockedValueBox<[ObjectIdentifier: NIOLoopBound<IdleSweeper>]>([:])

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    /// The sweeper for `eventLoop`; call on that loop.
    func sweeper(for eventLoop: EventLoop) -> IdleSweeper {
        byLoop.withLockedValue { map in
            let key = ObjectIdentifier(eventLoop)
            if let existing = map[key] { return existing.value }
            let sweeper = IdleSweeper(timeout: timeout, eventLoop: eventLoop)
            map[key] = NIOLoopBound(sweeper, eventLoop: eventLoop)
            return sweeper
        }
    }
}
