import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// The announcement handler on an `EmbeddedChannel`, whose event loop runs on a virtual clock:
/// what is sent at which deadline, with no socket and no waiting.
@Suite("Announcement handler")
struct AnnouncementHandlerTests {
    let destination = try! SocketAddress(ipAddress: "239.255.0.1", port: 8088)
    let stats = ListenerStats()

    func setup(interval: TimeAmount = .milliseconds(100), format: AnnouncerSpec.Format = .json) -> AnnouncementHandler.Setup {
        .init(destination: destination, interval: interval, formatter: AnnouncementFormatter(format: format, host: "h", listener: "t", timeZone: .fixed(offsetSeconds: 0)))
    }

    /// The handler's clock: the embedded loop's virtual time, or later while a test stages a
    /// stall (an embedded loop runs an overdue timer with its clock set back to the deadline).
    final class TestClock: @unchecked Sendable {
        let loop: EmbeddedEventLoop
        var stalledUntil = NIODeadline.uptimeNanoseconds(0)
        init(_ loop: EmbeddedEventLoop) { self.loop = loop }
        var now: NIODeadline { max(loop.now, stalledUntil) }
    }

    /// A channel with the handler, started at virtual time 0. The wall clock reads the same
    /// virtual time, so each message tells when it was sent.
    func makeChannel(_ setup: AnnouncementHandler.Setup, progress: AnnouncementHandler.Progress = .init()) throws -> (EmbeddedChannel, AnnouncementHandler, TestClock) {
        let loop = EmbeddedEventLoop()
        let clock = TestClock(loop)
        let handler = AnnouncementHandler(setup: setup, progress: progress, stats: stats, lateness: LatencyHistogram(), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                          wallClock: {
                                              let ns = Int(clock.now.uptimeNanoseconds)
                                              return WallClockTime(seconds: ns / 1_000_000_000, nanoseconds: ns % 1_000_000_000)
                                          },
                                          monotonicClock: { clock.now })
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        return (channel, handler, clock)
    }

    /// Everything written so far: (sequence number, milliseconds of virtual time in the text).
    func sent(_ channel: EmbeddedChannel) throws -> [(seq: Int, ms: Int, to: SocketAddress)] {
        var out: [(Int, Int, SocketAddress)] = []
        while let envelope = try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) {
            let text = String(buffer: envelope.data)
            // {"time":"1970-01-01T00:00:SS.mmmZ","seq":N,...}
            let seq = Int(text.split(separator: "\"seq\":")[1].prefix { $0.isNumber })!
            let clock = text.split(separator: "T")[1].prefix(12)  // HH:MM:SS.mmm
            let parts = clock.split(whereSeparator: { $0 == ":" || $0 == "." }).map { Int($0)! }
            out.append((seq, ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + parts[3], envelope.remoteAddress))
        }
        return out
    }

    @Test("First announcement at start, then one per interval on the dot, to the group")
    func announcesOnDeadlines() throws {
        let (channel, handler, _) = try makeChannel(setup())
        handler.start()
        channel.embeddedEventLoop.run()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(450))
        let got = try sent(channel)
        #expect(got.map(\.seq) == [0, 1, 2, 3, 4])
        #expect(got.map(\.ms) == [0, 100, 200, 300, 400])
        #expect(got.allSatisfy { $0.to == destination })
        #expect(stats.value(.announcements) == 5)
        #expect(stats.value(.missedDeadlines) == 0)
        _ = try channel.finish()
    }

    @Test("A stall: one announcement when the loop comes back, the skipped deadlines counted, no burst")
    func stallIsSkippedAndCounted() throws {
        let (channel, handler, clock) = try makeChannel(setup())
        handler.start()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(150))
        #expect(try sent(channel).map(\.seq) == [0, 1])
        // The loop is blocked from 150 ms to 880 ms: the timer for 200 ms runs at 880 ms.
        clock.stalledUntil = .uptimeNanoseconds(880_000_000)
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(200_000_000))
        let got = try sent(channel)
        #expect(got.map(\.seq) == [2])
        #expect(got.map(\.ms) == [880])
        #expect(stats.value(.missedDeadlines) == 6)  // deadlines 2...7 skipped, 8 announced
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(1_000_000_000))
        #expect(try sent(channel).map(\.ms) == [900, 1000])  // back on the grid, not 980 and 1080
        _ = try channel.finish()
    }

    @Test("In-place update: a new format at the next deadline, the sequence continues")
    func formatChangeKeepsSequence() throws {
        let (channel, handler, _) = try makeChannel(setup())
        handler.start()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(250))
        #expect(try sent(channel).map(\.seq) == [0, 1, 2])
        handler.apply(setup(format: .epoch), now: channel.embeddedEventLoop.now)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(50))
        let text = try #require(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self)).data
        #expect(String(buffer: text) == "0.300")
        handler.apply(setup(format: .json), now: channel.embeddedEventLoop.now)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
        #expect(try sent(channel).map(\.seq) == [4])
        _ = try channel.finish()
    }

    @Test("In-place update: a new interval continues from the last announcement, without a gap or a double")
    func intervalChange() throws {
        let (channel, handler, _) = try makeChannel(setup())
        handler.start()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(230))
        #expect(try sent(channel).map(\.ms) == [0, 100, 200])
        handler.apply(setup(interval: .milliseconds(500)), now: channel.embeddedEventLoop.now)
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(1_800_000_000))
        let got = try sent(channel)
        #expect(got.map(\.ms) == [700, 1200, 1700])
        #expect(got.map(\.seq) == [3, 4, 5])
        #expect(stats.value(.missedDeadlines) == 0)
        _ = try channel.finish()
    }

    @Test("Stopped: nothing more is sent; started again with the same progress: the stream resumes")
    func stopAndResume() throws {
        let (channel, handler, _) = try makeChannel(setup())
        handler.start()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
        handler.stop()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1000))
        #expect(try sent(channel).map(\.seq) == [0, 1])
        let progress = handler.progress
        _ = try channel.finish()

        // As after a socket is replaced: a new handler with the old progress, at 1150 ms.
        let (c2, h2, clock2) = try makeChannel(setup(), progress: progress)
        clock2.stalledUntil = .uptimeNanoseconds(1_150_000_000)
        h2.start()
        c2.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(1_250_000_000))
        let got = try sent(c2)
        #expect(got.map(\.seq) == [2, 3])
        #expect(got.map(\.ms) == [1150, 1200])
        #expect(stats.value(.missedDeadlines) == 9)  // 200 ... 1000 ms passed while stopped
        _ = try c2.finish()
    }

    @Test("Closing the channel stops the timer")
    func closeStops() throws {
        let (channel, handler, _) = try makeChannel(setup())
        handler.start()
        channel.embeddedEventLoop.run()
        _ = try channel.finish()
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(stats.value(.announcements) == 1)
    }
}
