import NIOCore
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// The reopen delay as a value: doubling, capped, and starting over after a healthy socket.
@Suite("Backoff")
struct BackoffTests {
    @Test("From the first delay, doubling up to the limit, then staying there")
    func doublesToLimit() {
        var b = Backoff(first: .milliseconds(50), limit: .milliseconds(300), healthyLifetime: .seconds(10))
        let delays = (0..<6).map { _ in b.next() }
        #expect(delays == [.milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(300), .milliseconds(300), .milliseconds(300)])
    }

    @Test("reset starts over at the first delay")
    func reset() {
        var b = Backoff(first: .seconds(1), limit: .seconds(30), healthyLifetime: .seconds(60))
        _ = b.next()
        _ = b.next()
        #expect(b.upcoming == .seconds(4))
        b.reset()
        #expect(b.next() == .seconds(1))
    }

    @Test("A socket that dies young keeps the delay growing; one that lived long enough starts over")
    func afterClose() {
        var b = Backoff(first: .seconds(1), limit: .seconds(30), healthyLifetime: .seconds(60))
        #expect(b.afterClose(lifetime: .seconds(5)) == .seconds(1))
        #expect(b.afterClose(lifetime: .seconds(5)) == .seconds(2))
        #expect(b.afterClose(lifetime: .seconds(59)) == .seconds(4))
        #expect(b.afterClose(lifetime: .seconds(60)) == .seconds(1))
        #expect(b.afterClose(lifetime: .seconds(3600)) == .seconds(1))
    }

    @Test("The announcer's sequence: 1 s doubling to 30 s, as the docs say")
    func announcerSequence() {
        var b = AnnouncerListener.reopenBackoff
        let delays = (0..<7).map { _ in b.next().nanoseconds / 1_000_000_000 }
        #expect(delays == [1, 2, 4, 8, 16, 30, 30])
    }

    @Test("The datagram socket's sequence: 50 ms doubling to 5 s")
    func datagramSequence() {
        var b = DatagramSocket.rebindBackoff
        let delays = (0..<9).map { _ in b.next().nanoseconds / 1_000_000 }
        #expect(delays == [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000])
    }
}
