/// How a datagram listener's receive buffers are sized, and why.
///
/// NIO's vector read (recvmmsg) takes one buffer from the channel's receive allocator and
/// cuts it into `vectorReadCount` equal slices, one per datagram. A datagram longer than its
/// slice is truncated to the slice's length, and NIO does not report the truncation (it ignores
/// MSG_TRUNC). So each slice is made `maxDatagramSize + 1` bytes long: a datagram over the limit
/// then arrives as at least `maxDatagramSize + 1` bytes and is recognised as oversize, never
/// answered cut short. (A larger slice, e.g. a reused buffer from before a reload lowered the
/// limit, still works: anything over the limit is either whole or cut to more than the limit.)
///
/// Memory: one buffer is `vectorReadCount × (maxDatagramSize + 1)` bytes and NIO keeps up to
/// `maxMessagesPerRead` (4) of them per channel. The product is capped at `bufferBudget` by
/// reading fewer datagrams per call when both settings are large: 1024 × 65508 would be 64 MiB
/// a buffer, 256 MiB a listener.
package struct DatagramReceiveSizing: Sendable, Equatable {
    /// Bytes per receive buffer (so at most 4 MiB per listener in NIO's pool).
    package static let bufferBudget = 1 << 20

    package var sliceSize: Int
    package var vectorReadCount: Int
    package var requestedVectorReadCount: Int

    package init(maxDatagramSize: Int, vectorReadCount: Int) {
        sliceSize = maxDatagramSize + 1
        requestedVectorReadCount = vectorReadCount
        self.vectorReadCount = max(1, min(vectorReadCount, Self.bufferBudget / sliceSize))
    }

    package var bufferSize: Int { sliceSize * vectorReadCount }
    package var lowered: Bool { vectorReadCount < requestedVectorReadCount }

    /// Why the count was lowered, for a log line or a config warning.
    package var loweredExplanation: String {
        "vectorReadCount \(requestedVectorReadCount) × (maxDatagramSize + 1 = \(sliceSize) bytes) is more than the \(Self.bufferBudget / 1024) KiB receive-buffer budget; reading \(vectorReadCount) datagram(s) per call instead"
    }
}
