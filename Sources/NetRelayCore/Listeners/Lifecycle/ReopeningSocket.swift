import NIOConcurrencyHelpers
import NIOCore
import NetRelayConfig

/// Keeps one socket of a listener open: when NIO closes the current channel without being
/// asked (a send error it treats as fatal, an interface that went away), it waits as long as
/// `Backoff` says and opens another, and again after a growing delay while opening fails.
/// `stop()` ends that for good. `Socket` is what the owner opens: a channel and whatever
/// comes with it (its handler).
final class ReopeningSocket<Socket: Sendable>: Sendable {
    /// What the owner does at each step.
    struct Steps: Sendable {
        /// The channel of a socket.
        var channel: @Sendable (Socket) -> Channel
        /// The current socket closed; the next attempt is in `delay`. (Log it.)
        var closed: @Sendable (_ delay: TimeAmount) -> Void
        /// Opens a new socket (not yet installed) in place of `last`; throws when it cannot.
        var reopen: @Sendable (_ last: Socket?) async throws -> Socket
        /// The new socket is installed and watched. (Log it, start it.)
        var reopened: @Sendable (Socket) async -> Void
        /// Opening failed; the next attempt is in `delay`. (Log it.)
        var failed: @Sendable (_ error: Error, _ delay: TimeAmount) -> Void
    }

    private struct State {
        var backoff: Backoff
        /// The socket in use; nil while one is being replaced.
        var current: Socket?
        /// The socket installed last, kept after it closed (its handler's progress carries over).
        var last: Socket?
        var openedAt = NIODeadline.now()
        var stopped = false
        var waiting: Task<Void, Never>?
    }

    private let state: NIOLockedValueBox<State>
    private let steps: Steps

    init(backoff: Backoff, steps: Steps) {
        self.state = NIOLockedValueBox(State(backoff: backoff))
        self.steps = steps
    }

    var current: Socket? { state.withLockedValue { $0.current } }
    var last: Socket? { state.withLockedValue { $0.last } }

    /// Makes `socket` the current one and watches it; false (nothing installed) once stopped:
    /// the caller closes it then.
    func install(_ socket: Socket) -> Bool {
        let installed = state.withLockedValue { s -> Bool in
            guard !s.stopped else { return false }
            s.current = socket
            s.last = socket
            s.openedAt = .now()
            return true
        }
        guard installed else { return false }
        let channel = steps.channel(socket)
        channel.closeFuture.whenComplete { _ in self.closed(channel) }
        return true
    }

    /// No more reopening; returns the current socket for the caller to close.
    func stop() -> Socket? {
        let (socket, waiting) = state.withLockedValue { s -> (Socket?, Task<Void, Never>?) in
            s.stopped = true
            defer { s.current = nil; s.waiting = nil }
            return (s.current, s.waiting)
        }
        waiting?.cancel()
        return socket
    }

    private func closed(_ channel: Channel) {
        let delay = state.withLockedValue { s -> TimeAmount? in
            guard !s.stopped, let current = s.current, steps.channel(current) === channel else { return nil }
            s.current = nil
            return s.backoff.afterClose(lifetime: .now() - s.openedAt)
        }
        guard let delay else { return }
        steps.closed(delay)
        let task = Task { await self.reopen(after: delay) }
        state.withLockedValue { s in
            if s.stopped { task.cancel() } else { s.waiting = task }
        }
    }

    private func reopen(after firstDelay: TimeAmount) async {
        var delay = firstDelay
        while true {
            try? await Task.sleep(nanoseconds: UInt64(max(delay.nanoseconds, 0)))
            let (stopped, last) = state.withLockedValue { ($0.stopped, $0.last) }
            if stopped { return }
            do {
                let socket = try await steps.reopen(last)
                guard install(socket) else {
                    try? await steps.channel(socket).close()
                    return
                }
                await steps.reopened(socket)
                return
            } catch {
                delay = state.withLockedValue { $0.backoff.next() }
                steps.failed(error, delay)
            }
        }
    }
}
