import Dispatch
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Fired through a probe's pipeline when the probe may start (its socket is bound, connected or joined).
struct ProbeStart: Sendable {}

/// Fired through a probe's pipeline on SIGINT or SIGTERM: end as a timeout would, so that the
/// channel closes and `--stats` still prints.
struct ProbeInterrupted: Sendable {}

/// Runs one probe on its own one-thread event loop group, shuts the group down, and turns a
/// failed outcome into `ProbeFailure` (exit 1, one line on stderr).
enum ProbeRunner {
    static func run(output: Output, _ probe: (MultiThreadedEventLoopGroup) async -> Outcome) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let outcome = await probe(group)
        try? await group.shutdownGracefully()
        switch outcome {
        case .success:
            return
        case .failure(let reason):
            output.emit(.error(reason: reason))
            throw ProbeFailure(reason)
        case .timedOut(let reason):
            // The probe already printed its `timeout` event.
            throw ProbeFailure(reason)
        }
    }

    /// Waits for the probe's verdict while SIGINT/SIGTERM are turned into `ProbeInterrupted`.
    static func verdict(of channel: any Channel, _ done: EventLoopPromise<Outcome>) async -> Outcome {
        let watch = InterruptWatch { channel.pipeline.fireUserInboundEventTriggered(ProbeInterrupted()) }
        let outcome = (try? await done.futureResult.get()) ?? .failure("the probe ended without a verdict")
        watch.cancel()
        try? await channel.close()
        return outcome
    }

    /// Seconds as a `TimeAmount` (the commands' validate() keeps them in range).
    static func time(_ seconds: Double) -> TimeAmount {
        .nanoseconds(Int64((seconds * 1_000_000_000).rounded()))
    }
}

/// SIGINT and SIGTERM delivered to a handler on a Dispatch queue instead of ending the process.
final class InterruptWatch {
    private static let signals: [Int32] = [SIGINT, SIGTERM]
    private var sources: [any DispatchSourceSignal] = []

    init(_ handler: @escaping @Sendable () -> Void) {
        for number in Self.signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            sources.append(source)
        }
    }

    func cancel() {
        sources.forEach { $0.cancel() }
        sources.removeAll()
        for number in Self.signals { signal(number, SIG_DFL) }
    }
}

extension NIOBSDSocket.Option {
    /// SO_REUSEPORT (NIO names SO_REUSEADDR but not this one): lets several probes bind one port.
    static let reusePort = NIOBSDSocket.Option(rawValue: SO_REUSEPORT)
}
