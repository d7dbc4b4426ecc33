import NIOConcurrencyHelpers
import NIOPosix
import NetRelayConfig

/// Runs blocking work (reading and decoding a configuration file) on NIO's blocking thread pool
/// instead of Swift's cooperative pool, where it would hold one of the few threads (one per
/// core) that signal handling, STATUS and graceful shutdown run on.
enum BlockingWork {
    /// The result of `body`, or nil as soon as the calling task is cancelled: the work then
    /// finishes on its own thread and its result is dropped, so shutdown never waits for it.
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T? {
        let state = NIOLockedValueBox(State<T>.idle)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
                let cancelled = state.withLockedValue { $0.wait(continuation) }
                if cancelled {
                    continuation.resume(returning: nil)
                    return
                }
                NIOThreadPool.singleton.submit { _ in
                    let result = body()
                    state.withLockedValue { $0.finish() }?.resume(returning: result)
                }
            }
        } onCancel: {
            state.withLockedValue { $0.cancel() }?.resume(returning: nil)
        }
    }

    /// Who resumes the caller: the work when it finishes, or cancellation, whichever comes first.
    private enum State<T: Sendable>: Sendable {
        case idle
        case waiting(CheckedContinuation<T?, Never>)
        case cancelled
        case resumed

        /// Records the waiting caller; true when it was cancelled before it got here.
        mutating func wait(_ continuation: CheckedContinuation<T?, Never>) -> Bool {
            if case .cancelled = self { return true }
            self = .waiting(continuation)
            return false
        }

        mutating func finish() -> CheckedContinuation<T?, Never>? {
            guard case .waiting(let c) = self else { return nil }
            self = .resumed
            return c
        }

        mutating func cancel() -> CheckedContinuation<T?, Never>? {
            switch self {
            case .idle:
                self = .cancelled
                return nil
            case .waiting(let c):
                self = .resumed
                return c
            case .cancelled, .resumed:
                return nil
            }
        }
    }
}
