import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// The reopen loop without sockets: embedded channels stand in for what NIO closes.
@Suite("Reopening socket")
struct ReopeningSocketTests {
    /// Records the steps; `failures` opens fail that many times first.
    final class Recorder: Sendable {
        let events = NIOLockedValueBox<[String]>([])
        let failures: NIOLockedValueBox<Int>
        let opened = NIOLockedValueBox<[EmbeddedChannel]>([])

        init(failures: Int = 0) { self.failures = NIOLockedValueBox(failures) }

        func record(_ e: String) { events.withLockedValue { $0.append(e) } }

        func steps() -> ReopeningSocket<EmbeddedChannel>.Steps {
            .init(
                channel: { $0 },
                closed: { self.record("closed, next in \($0.nanoseconds / 1_000_000) ms") },
                reopen: { _ in
                    if self.failures.withLockedValue({ n in defer { n -= 1 }; return n > 0 }) {
                        throw ChannelError.ioOnClosedChannel
                    }
                    let channel = EmbeddedChannel()
                    self.opened.withLockedValue { $0.append(channel) }
                    return channel
                },
                reopened: { _ in self.record("reopened") },
                failed: { _, delay in self.record("failed, next in \(delay.nanoseconds / 1_000_000) ms") }
            )
        }

        /// Waits (bounded) until `count` events were recorded.
        func wait(for count: Int) async throws {
            for _ in 0..<500 where events.withLockedValue({ $0.count }) < count {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// As NIO does after a send error it does not tolerate; returns once close callbacks ran.
    static func closeUnasked(_ channel: EmbeddedChannel) async throws {
        channel.close(promise: nil)
        channel.embeddedEventLoop.run()
        try await channel.closeFuture.get()
    }

    static let quick = Backoff(first: .milliseconds(1), limit: .milliseconds(4), healthyLifetime: .seconds(3600))

    @Test("A channel that closes unasked is replaced after the backoff; failed opens back off further")
    func reopensAfterClose() async throws {
        let recorder = Recorder(failures: 2)
        let socket = ReopeningSocket(backoff: Self.quick, steps: recorder.steps())
        let first = EmbeddedChannel()
        #expect(socket.install(first))
        try await Self.closeUnasked(first)
        try await recorder.wait(for: 4)
        #expect(recorder.events.withLockedValue { $0 } == ["closed, next in 1 ms", "failed, next in 2 ms", "failed, next in 4 ms", "reopened"])
        let replacement = try #require(recorder.opened.withLockedValue { $0.first })
        #expect(socket.current === replacement)
        #expect(socket.last === replacement)
        _ = socket.stop()
    }

    @Test("After stop, a close is not followed by a reopen, and install refuses")
    func stopEndsIt() async throws {
        let recorder = Recorder()
        let socket = ReopeningSocket(backoff: Self.quick, steps: recorder.steps())
        let channel = EmbeddedChannel()
        #expect(socket.install(channel))
        #expect(socket.stop() === channel)
        try await Self.closeUnasked(channel)
        #expect(!socket.install(EmbeddedChannel()))
        #expect(socket.current == nil)
        #expect(recorder.events.withLockedValue { $0 }.isEmpty)
    }
}
