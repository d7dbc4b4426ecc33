import CNetRelayShims
import Logging

/// What start-up leaves mapped and the daemon does not need: the pages of machine code,
/// symbol, relocation and unwind tables that loading, decoding the configuration and binding
/// touched. RSS counts every page still mapped, and start-up touches most of the static
/// binary's read-only segment (the dynamic loader reads all of `.rela.dyn` and `.dynsym`, the
/// Swift runtime walks its metadata, the kernel maps 64 KiB around each fault): about 10 MiB of
/// an idle daemon's 14-17 MiB were those pages (docs/performance.md, "Idle memory").
///
/// They are clean page cache, never private memory: `CNetRelay_dropCleanTextPages` unmaps them
/// (MADV_DONTNEED on the non-writable, non-RELRO segments only), and what runs afterwards maps
/// its own pages again on first use, from the page cache, without I/O. Nothing the daemon wrote
/// is touched.
public enum StartupPages {
    /// Call once the daemon is serving. Returns the bytes unmapped (0 where unsupported).
    @discardableResult
    public static func release(logger: Logger) -> Int {
        let bytes = Int(CNetRelay_dropCleanTextPages())
        logger.debug("Unmapped \(bytes >> 10) KiB of read-only start-up pages (code, symbol tables)", metadata: ["event": "startup-pages"])
        return bytes
    }
}
