import NIOCore
import NetRelayConfig

/// The receive buffers of an echo connection: one buffer of `capacity` bytes, kept for the
/// connection's life and reused for every read, so an idle connection holds `capacity` bytes
/// and never more.
///
/// Why not NIO's default (`AdaptiveRecvByteBufferAllocator`, 64 B–64 KiB, through
/// `NIOPooledRecvBufferAllocator`): the pool keeps up to `maxMessagesPerRead` (4) buffers per
/// connection, reuses one only if no write still holds it, and never shrinks a buffer it keeps.
/// Echo hands every read buffer to a write, so a connection that once had a burst of four full
/// reads in one wake-up keeps 4 × 64 KiB = 256 KiB for the rest of its life, outside any
/// accounting: 1,000 half-closing peers pinned about 64 MiB that way (issue 11).
///
/// How this one keeps a single buffer: `nextBufferSize()` is nil and `record` never asks to
/// grow, which makes the pool reuse its one stored buffer with `ByteBuffer.clear()`. When a
/// queued write still holds that buffer, `clear()` gives the pool a fresh one of the same
/// capacity (the old one is freed once written), so reads that follow each other within one
/// wake-up cost one allocation each, like NIO's pool when its buffers are busy, and nothing
/// extra is kept.
struct EchoReceiveAllocator: RecvByteBufferAllocator {
    /// 16 KiB: a quarter of NIO's largest read; a wake-up still reads up to 4 × 16 KiB.
    static let defaultCapacity = 16 << 10

    let capacity: Int

    init(capacity: Int = EchoReceiveAllocator.defaultCapacity) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(capacity: capacity)
    }

    /// No size hint: the pool then reuses its single stored buffer (see above).
    func nextBufferSize() -> Int? { nil }

    mutating func record(actualReadBytes: Int) -> Bool { false }
}
