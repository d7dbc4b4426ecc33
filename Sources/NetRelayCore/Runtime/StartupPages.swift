import CNetRelayShims
import Logging
import NIOCore

/// What start-up leaves mapped and the daemon does not need: the pages of machine code,
/// symbol, relocation and unwind tables that loading, decoding the configuration, binding and
/// the first round of every timer touched. RSS counts every page still mapped, and start-up
/// touches most of the static binary's read-only segment (the dynamic loader reads all of
/// `.rela.dyn` and `.dynsym`, the Swift runtime walks its metadata, and the kernel maps the
/// 64 KiB around each faulting address): about 10 MiB of an idle daemon's 15-17 MiB were those
/// pages (docs/performance.md, "Idle memory").
///
/// They are clean page cache, never private memory: `CNetRelay_dropCleanTextPages` unmaps them
/// (MADV_DONTNEED on the non-writable, non-RELRO segments only), and what runs afterwards maps
/// its own pages again on first use, from the page cache, without I/O. Nothing the daemon wrote
/// is touched.
public enum StartupPages {
    /// Once the first status line, heartbeats and the other timers' first runs are over: their
    /// one-time paths (lazy metadata, first formatting) are not part of the idle working set.
    public static let secondReleaseDelay = TimeAmount.seconds(10)

    /// Unmaps the pages now. Returns the bytes unmapped (0 where unsupported).
    @discardableResult
    public static func release(logger: Logger) -> Int {
        let bytes = Int(CNetRelay_dropCleanTextPages())
        logger.debug("Unmapped \(bytes >> 10) KiB of read-only start-up pages (code, symbol tables)", metadata: ["event": "startup-pages"])
        return bytes
    }

    /// Call once the daemon is serving: unmaps the pages now and once more after
    /// `secondReleaseDelay`, when the first runs of the periodic work have mapped theirs.
    public static func releaseNowAndLater(on eventLoop: EventLoop, logger: Logger) {
        release(logger: logger)
        eventLoop.scheduleTask(in: secondReleaseDelay) { release(logger: logger) }
    }
}
