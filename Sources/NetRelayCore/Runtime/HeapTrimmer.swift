import CNetRelayShims
import Logging
import NIOCore
import NetRelayConfig

/// Returns unused heap to the system: glibc keeps freed memory in its heap, and RSS keeps
/// counting it, after bursts of peer traffic (drained input, echo the kernel took a moment
/// later); glibc trims only the top of the heap on its own.
enum HeapTrimmer {
    /// Free heap above which the periodic check trims.
    static let idleHeapSlack = 8 << 20

    /// Once a second, trims when more than `idleHeapSlack` of the heap is free. One mallinfo2
    /// per second; a trim only after such a burst.
    static func start(on loop: any EventLoop, logger: Logger) {
        loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            if CNetRelay_heap_free_bytes() > UInt(idleHeapSlack) { trim(logger: logger) }
        }
    }

    static func trim(logger: Logger) {
        let released = CNetRelay_malloc_trim()
        logger.debug("Returned unused heap to the system after peers' buffers were freed (malloc_trim: \(released != 0 ? "released memory" : "nothing to release"))", metadata: ["event": "malloc-trim"])
    }
}
