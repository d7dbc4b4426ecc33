import NIOCore
import NetRelayConfig

/// Collects the datagrams a handler sends while NIO delivers a read batch, so that they go out
/// together at `channelReadComplete`: one sendmmsg(2) per 64 datagrams (`DatagramSender`).
///
/// A datagram is one iovec here (and in NIO), so "prefix + payload" cannot go out as two
/// buffers (that would be two datagrams); it needs one contiguous copy. Every datagram of the
/// batch is copied into one arena, back to back: the arena is uniquely owned while a batch is
/// collected, so it grows in place, and `clear()` reuses its storage for the next batch. In the
/// steady state a reply costs a memcpy of a few bytes, not an allocation, and the whole batch
/// is one contiguous block for the system call.
struct DatagramOutbox {
    private struct Item {
        var address: SocketAddress
        var start: Int
        var length: Int
        /// Out of this interface (IP_PKTINFO); 0: where the routing table says.
        var interfaceIndex: Int = 0
        /// The rebroadcaster's target it counts for; nil: none.
        var target: DestinationCounter?
        /// The host loops it back to our own socket (a broadcast to our own port).
        var echoes: Bool = false
    }

    private var items: [Item] = []
    private var arena: ByteBuffer?
    /// Some item counts for a target: count per target after the send.
    private var hasTargets = false

    static let initialArenaCapacity = 16 * 1024

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }

    /// Queues `prefix + payload` (or the payload alone) to `address` as one datagram.
    mutating func send(_ payload: ByteBuffer, prefixedWith prefix: ByteBuffer?, to address: SocketAddress, allocator: ByteBufferAllocator,
                       interfaceIndex: Int = 0, target: DestinationCounter? = nil, echoes: Bool = false) {
        if arena == nil {
            arena = allocator.buffer(capacity: Self.initialArenaCapacity)
        } else if items.isEmpty {
            // A new batch: the last one has left, so the storage is unique and clear() reuses
            // it (if NIO still holds slices of it, clear() starts afresh instead).
            arena!.clear()
        }
        let start = arena!.writerIndex
        if let prefix { arena!.writeImmutableBuffer(prefix) }
        arena!.writeImmutableBuffer(payload)
        items.append(Item(address: address, start: start, length: arena!.writerIndex - start, interfaceIndex: interfaceIndex, target: target, echoes: echoes))
        if target != nil { hasTargets = true }
    }

    /// Sends the batch with sendmmsg(2) on the sender's socket.
    mutating func send(with sender: DatagramSender) -> DatagramSender.Result {
        sentEchoes = 0
        guard let arena, !items.isEmpty else { return .init() }
        guard hasTargets else {
            return arena.withUnsafeReadableBytes { raw in
                // readerIndex is 0 (nothing is ever read from the arena), so offsets are from raw's start.
                sender.send(count: items.count, base: raw.baseAddress!) { i in
                    (items[i].address, items[i].start, items[i].length)
                }
            }
        }
        var failed: [Int] = []
        let list = self.items
        let result = arena.withUnsafeReadableBytes { raw in
            sender.send(count: list.count, base: raw.baseAddress!, unsent: { failed.append($0) }) { i in
                (list[i].address, list[i].start, list[i].length, list[i].interfaceIndex)
            }
        }
        sentEchoes = countTargets(failed: failed)
        return result
    }

    /// Adds each item to its target's counters: sent, or an error for the indexes in `failed`
    /// (ascending). Returns how many of those sent loop back to our socket (`echoes`).
    @discardableResult
    func countTargets(failed: [Int]) -> Int {
        var next = 0
        var echoes = 0
        for (i, item) in items.enumerated() {
            let isFailed = next < failed.count && failed[next] == i
            if isFailed { next += 1 }
            if item.echoes && !isFailed { echoes += 1 }
            guard let t = item.target else { continue }
            if isFailed { t.addError(1) } else { t.addSent(1) }
        }
        return echoes
    }

    /// Sent datagrams of the last `send(with:)` that loop back to our socket.
    private(set) var sentEchoes = 0

    /// Writes (does not flush) the batch through the pipeline: NIO's own write path, for
    /// channels without a `DatagramSender` (EmbeddedChannel in tests). The last write carries
    /// `lastPromise`. Call `removeAll()` next, then flush: a flush can re-enter the handler
    /// (NIO reads what is pending and closes the channel when a send fails), so the outbox
    /// must not be in the middle of an access then.
    func write(context: ChannelHandlerContext, lastPromise: EventLoopPromise<Void>?) {
        let n = items.count
        for i in 0..<n {
            let data = arena!.getSlice(at: items[i].start, length: items[i].length)!
            context.write(NIOAny(AddressedEnvelope(remoteAddress: items[i].address, data: data)), promise: i == n - 1 ? lastPromise : nil)
        }
    }

    mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        hasTargets = false
    }

    /// Forgets what was queued (the channel is going away).
    mutating func discard() {
        items.removeAll(keepingCapacity: false)
        arena = nil
    }
}
