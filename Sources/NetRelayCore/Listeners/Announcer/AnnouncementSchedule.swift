import NIOCore
import NetRelayConfig

/// When announcements are due: at `start + n × interval` for n = 0, 1, 2, ...
///
/// Deadlines are absolute, so a timer that fires a little late does not push every later
/// announcement back (a relative "every interval from the last one" timer, like NIO's
/// `scheduleRepeatedTask`, drifts by each firing's lateness, which adds up over hours).
/// After a stall (a busy or suspended event loop, the machine asleep) the deadlines that
/// passed unsent are skipped and counted, never sent in a burst: a receiver wants the time
/// now, not a row of stale ones.
///
/// A pure value: the announcer feeds it the event loop's clock, tests feed it numbers.
struct AnnouncementSchedule: Sendable, Equatable {
    /// Deadline 0, the first announcement.
    let start: NIODeadline
    /// Nanoseconds between deadlines, > 0.
    let interval: Int64

    init(start: NIODeadline, interval: TimeAmount) {
        precondition(interval.nanoseconds > 0, "an announcement interval must be positive")
        self.start = start
        self.interval = interval.nanoseconds
    }

    /// Deadline `n`.
    func deadline(_ n: Int64) -> NIODeadline {
        start + .nanoseconds(n &* interval)
    }

    /// What to do when the timer armed for deadline `scheduled` fires at `now`.
    struct Firing: Equatable, Sendable {
        /// The deadline this announcement stands for: the latest one that has passed.
        var index: Int64
        /// Deadlines between `scheduled` and `index` that get no announcement.
        var missed: Int64
        /// The deadline to arm the timer for next (`index + 1`).
        var next: Int64
    }

    /// Given the deadline the timer was armed for and the time it fired, the one deadline to
    /// announce for now (never earlier than `scheduled`), how many to skip, and the next one.
    func firing(scheduled: Int64, now: NIODeadline) -> Firing {
        let elapsed = (now - start).nanoseconds
        // Floor division: the last deadline at or before `now` (-1 before the start).
        let latest = elapsed >= 0 ? elapsed / interval : -1
        let index = max(scheduled, latest)
        return Firing(index: index, missed: index - scheduled, next: index + 1)
    }

    /// The same phase continued at another interval, for an in-place update: the next
    /// announcement comes one new interval after the last one sent (deadline `lastSent`), or
    /// at once if that moment has already passed. Nothing counts as missed across the change.
    func changingInterval(to newInterval: TimeAmount, lastSent: Int64?, now: NIODeadline) -> AnnouncementSchedule {
        guard let lastSent else {
            return AnnouncementSchedule(start: max(start, now), interval: newInterval)
        }
        let next = deadline(lastSent) + newInterval
        return AnnouncementSchedule(start: max(next, now), interval: newInterval)
    }
}
