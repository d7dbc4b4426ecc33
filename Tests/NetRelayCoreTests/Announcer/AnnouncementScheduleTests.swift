import NIOCore
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// The deadline arithmetic, with made-up clocks: no timers, no sockets.
@Suite("Announcement schedule")
struct AnnouncementScheduleTests {
    /// 100 ms deadlines from t = 1000 s.
    let schedule = AnnouncementSchedule(start: .uptimeNanoseconds(1_000_000_000_000), interval: .milliseconds(100))

    func at(_ ms: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(1_000_000_000_000 + ms * 1_000_000)) }

    @Test("Deadlines are start + n × interval, whatever happened before")
    func deadlinesAreAbsolute() {
        #expect(schedule.deadline(0) == at(0))
        #expect(schedule.deadline(1) == at(100))
        // 10 hours at 100 ms: still exactly on the grid (no accumulated lateness).
        #expect(schedule.deadline(360_000) == at(36_000_000))
    }

    @Test("On time: announce for the scheduled deadline, nothing missed, then the next one")
    func onTime() {
        #expect(schedule.firing(scheduled: 0, now: at(0)) == .init(index: 0, missed: 0, next: 1))
        #expect(schedule.firing(scheduled: 5, now: at(500)) == .init(index: 5, missed: 0, next: 6))
    }

    @Test("A little late: still the same deadline, and the next one is not pushed back")
    func slightlyLate() {
        let f = schedule.firing(scheduled: 5, now: at(537))
        #expect(f == .init(index: 5, missed: 0, next: 6))
        #expect(schedule.deadline(f.next) == at(600))
    }

    @Test("After a stall: one announcement now, the deadlines in between counted as missed")
    func stallSkipsInsteadOfBursting() {
        // Armed for deadline 5 (500 ms), fired at 1234 ms: 6 and 7 passed too, 12 is the latest.
        let f = schedule.firing(scheduled: 5, now: at(1234))
        #expect(f == .init(index: 12, missed: 7, next: 13))
        #expect(schedule.deadline(f.next) == at(1300))
    }

    @Test("Exactly on a later deadline counts that deadline as the one sent")
    func stallEndingOnADeadline() {
        #expect(schedule.firing(scheduled: 2, now: at(400)) == .init(index: 4, missed: 2, next: 5))
    }

    @Test("Fired before its deadline (a coarse clock): the scheduled deadline, never an earlier one")
    func early() {
        #expect(schedule.firing(scheduled: 3, now: at(299)) == .init(index: 3, missed: 0, next: 4))
        #expect(schedule.firing(scheduled: 0, now: at(-5)) == .init(index: 0, missed: 0, next: 1))
    }

    @Test("A new interval continues from the last announcement sent")
    func changingInterval() {
        // Last sent: deadline 7 (700 ms); now 730 ms; new interval 1 s → next at 1700 ms.
        let slower = schedule.changingInterval(to: .seconds(1), lastSent: 7, now: at(730))
        #expect(slower.start == at(1700))
        #expect(slower.interval == 1_000_000_000)
        // Faster, and the moment one new interval after the last send has passed: at once.
        let faster = schedule.changingInterval(to: .milliseconds(10), lastSent: 7, now: at(790))
        #expect(faster.start == at(790))
        // Nothing sent yet: keep the start.
        #expect(schedule.changingInterval(to: .seconds(2), lastSent: nil, now: at(-50)).start == at(0))
    }

    @Test("Drift over a day of 10 ms deadlines is zero by construction")
    func noDrift() {
        let fast = AnnouncementSchedule(start: .uptimeNanoseconds(0), interval: .milliseconds(10))
        var scheduled: Int64 = 0
        // Every firing 3 ms late: a relative timer would drift 3 ms per tick.
        for _ in 0..<1000 {
            let f = fast.firing(scheduled: scheduled, now: fast.deadline(scheduled) + .milliseconds(3))
            #expect(f.missed == 0)
            scheduled = f.next
        }
        #expect(fast.deadline(scheduled) == .uptimeNanoseconds(10_000_000_000))
    }
}

@Suite("Log throttle")
struct LogThrottleTests {
    @Test("First occurrence logs, the rest of the window is counted, the next line reports them")
    func throttles() {
        var t = LogThrottle(window: .seconds(10))
        let t0 = NIODeadline.uptimeNanoseconds(5_000_000_000)
        #expect(t.admit(now: t0) == 0)
        #expect(t.admit(now: t0 + .seconds(1)) == nil)
        #expect(t.admit(now: t0 + .seconds(9)) == nil)
        #expect(t.admit(now: t0 + .seconds(10)) == 2)
        #expect(t.admit(now: t0 + .seconds(30)) == 0)
    }
}
