import NIOCore

/// Collects the datagrams a handler sends while NIO delivers a read batch, so that they are
/// written at `channelReadComplete` with one flush, which NIO sends with one sendmmsg(2).
///
/// A datagram is one write: NIO sends each `AddressedEnvelope` with a single iovec, so
/// "prefix + payload" cannot go out as two buffers (that would be two datagrams); it needs one
/// contiguous copy. The copies go into an arena, back to back, and are only sliced out at
/// write time: while a batch is collected the arena is uniquely owned, so it grows in place
/// instead of copying on write, and once the flushed writes have left (normally within the
/// flush itself) it is unique again and `clear()` reuses its storage for the next batch. In the steady state a
/// prefixed reply costs a memcpy, not an allocation; an unprefixed one is the received buffer
/// sent back as is.
struct DatagramOutbox {
    private enum Item {
        case whole(AddressedEnvelope<ByteBuffer>)
        case packed(SocketAddress, start: Int, length: Int)
    }

    private var items: [Item] = []
    private var arena: ByteBuffer?

    static let initialArenaCapacity = 16 * 1024

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }

    /// Queues `payload` to `address` unchanged (no copy).
    mutating func send(_ payload: ByteBuffer, to address: SocketAddress) {
        items.append(.whole(AddressedEnvelope(remoteAddress: address, data: payload)))
    }

    /// Queues `prefix + payload` to `address` as one datagram.
    mutating func send(_ payload: ByteBuffer, prefixedWith prefix: ByteBuffer, to address: SocketAddress, allocator: ByteBufferAllocator) {
        if arena == nil {
            arena = allocator.buffer(capacity: Self.initialArenaCapacity)
        } else if items.isEmpty {
            // A new batch: the last one's writes have normally left by now, so the storage is
            // unique and is reused; if some are still queued in NIO, clear() starts afresh.
            arena!.clear()
        }
        let start = arena!.writerIndex
        arena!.writeImmutableBuffer(prefix)
        arena!.writeImmutableBuffer(payload)
        items.append(.packed(address, start: start, length: arena!.writerIndex - start))
    }

    /// Writes (does not flush) what was queued; the last write carries `lastPromise`, which
    /// fails if that write, or the socket, fails. Call `removeAll()` next, then flush: a flush
    /// can re-enter the handler (NIO reads what is pending and closes the channel when a send
    /// fails), so the outbox must not be in the middle of an access then.
    func write(context: ChannelHandlerContext, lastPromise: EventLoopPromise<Void>?) {
        let n = items.count
        for i in 0..<n {
            let envelope: AddressedEnvelope<ByteBuffer>
            switch items[i] {
            case .whole(let e):
                envelope = e
            case .packed(let address, let start, let length):
                envelope = AddressedEnvelope(remoteAddress: address, data: arena!.getSlice(at: start, length: length)!)
            }
            context.write(NIOAny(envelope), promise: i == n - 1 ? lastPromise : nil)
        }
    }

    mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
    }

    /// Forgets what was queued (the channel is going away).
    mutating func discard() {
        items.removeAll(keepingCapacity: false)
        arena = nil
    }
}
