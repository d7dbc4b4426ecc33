import NIOCore

/// Collects the datagrams a handler sends while NIO delivers a read batch, and writes them all
/// at `channelReadComplete` with one flush, so NIO sends the batch with one sendmmsg(2).
///
/// A datagram is one write: NIO sends each `AddressedEnvelope` with a single iovec, so
/// "prefix + payload" cannot go out as two buffers (that would be two datagrams); it needs one
/// contiguous copy. The copies go into an arena, back to back, and are only sliced out at
/// flush time: while a batch is collected the arena is uniquely owned, so it grows in place
/// instead of copying on write, and once the flushed writes have left (normally within the
/// flush itself) it is unique again and `clear()` reuses its storage. In the steady state a
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
        if arena == nil { arena = allocator.buffer(capacity: Self.initialArenaCapacity) }
        let start = arena!.writerIndex
        arena!.writeImmutableBuffer(prefix)
        arena!.writeImmutableBuffer(payload)
        items.append(.packed(address, start: start, length: arena!.writerIndex - start))
    }

    /// Writes what was queued and flushes. When the channel is not writable (NIO's queue of
    /// unsent datagrams is over its high-water mark) the batch is dropped instead: UDP may
    /// lose datagrams, and a queue that grows without bound may not. The last write of the batch
    /// carries `lastPromise`, which fails if that write, or the socket, fails.
    mutating func flush(context: ChannelHandlerContext, lastPromise: EventLoopPromise<Void>?) -> (written: Int, dropped: Int) {
        let n = items.count
        guard n > 0 else {
            lastPromise?.succeed(())
            return (0, 0)
        }
        defer {
            items.removeAll(keepingCapacity: true)
            // Unique again unless a write is still queued in NIO; then clear() starts fresh storage.
            arena?.clear()
        }
        guard context.channel.isWritable else {
            lastPromise?.succeed(())
            return (0, n)
        }
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
        context.flush()
        return (n, 0)
    }

    /// Forgets what was queued (the channel is going away).
    mutating func discard() {
        items.removeAll(keepingCapacity: false)
        arena = nil
    }
}
