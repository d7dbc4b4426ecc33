#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NetRelayConfig

/// The datagrams one read batch produced (replies, rebroadcasts), and how they leave: through
/// the handler's `DatagramSender` (sendmmsg on the listener's socket), or through the pipeline
/// where there is none (EmbeddedChannel in tests). Counts what happened to them, and reports
/// failures as rate-limited summaries. Use it on the channel's event loop.
final class DatagramBatch {
    private var outbox = DatagramOutbox()
    private let sender: DatagramSender?
    private let stats: ListenerStats
    private let drops: SummaryReporter
    private let failures: SummaryReporter
    /// "replies", "rebroadcasts": for log lines.
    private let what: String
    /// The reason of the last failed send, for the listener's log line if the socket is lost.
    private(set) var lastSendError: String?
    /// Of the last batch sent, the datagrams the host loops back to our own socket.
    private(set) var lastSentEchoes = 0

    init(sender: DatagramSender?, stats: ListenerStats, drops: SummaryReporter, failures: SummaryReporter, what: String) {
        self.sender = sender
        self.stats = stats
        self.drops = drops
        self.failures = failures
        self.what = what
    }

    var isEmpty: Bool { outbox.isEmpty }

    func queue(_ payload: ByteBuffer, prefixedWith prefix: ByteBuffer?, to address: SocketAddress, allocator: ByteBufferAllocator,
               interfaceIndex: Int = 0, target: DestinationCounter? = nil, echoes: Bool = false) {
        outbox.send(payload, prefixedWith: prefix, to: address, allocator: allocator, interfaceIndex: interfaceIndex, target: target, echoes: echoes)
    }

    /// Sends what was queued and adds the outcome to `tally`. Returns true when the datagrams
    /// were written to the pipeline and the caller must flush, after it is done with its own
    /// state: a flush can re-enter the handler.
    func send(context: ChannelHandlerContext, tally: inout DatagramTally) -> Bool {
        guard !outbox.isEmpty else { return false }
        let n = outbox.count
        if let sender {
            let r = outbox.send(with: sender)
            lastSentEchoes = outbox.sentEchoes
            outbox.removeAll()
            tally.add(.datagramsOut, r.sent)
            if r.wouldBlock > 0 { queueFull(r.wouldBlock, tally: &tally, context: context) }
            if r.failed > 0, let code = r.lastErrno {
                tally.add(.sendErrors, r.failed)
                sendFailed(errnoDescription(code), count: r.failed, context: context)
            }
            return false
        }
        guard context.channel.isWritable else {
            outbox.removeAll()
            queueFull(n, tally: &tally, context: context)
            return false
        }
        // NIO's path: one promise per batch, on its last write, reports a failure.
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenFailure { error in
            self.stats.add(.sendErrors)
            self.sendFailed(describeSocketError(error).0, count: 1, context: context)
        }
        outbox.write(context: context, lastPromise: promise)
        outbox.countTargets(failed: [])
        outbox.removeAll()
        tally.add(.datagramsOut, n)
        return true
    }

    private func queueFull(_ n: Int, tally: inout DatagramTally, context: ChannelHandlerContext) {
        tally.add(.droppedSendQueueFull, n)
        let what = self.what
        drops.note(.droppedSendQueueFull, peer: "-", eventLoop: context.eventLoop) {
            "Dropped \(n) \(what): the socket's send buffer is full"
        }
    }

    private func sendFailed(_ reason: String, count: Int, context: ChannelHandlerContext) {
        lastSendError = reason
        let what = self.what
        failures.note(.sendErrors, peer: "-", eventLoop: context.eventLoop) {
            "Failed to send \(count) of the \(what): \(reason)"
        }
    }

    func discard() {
        outbox.discard()
        sender?.close()
    }
}
