#if canImport(Glibc)
import Glibc
#endif
import CNetRelayShims
import Logging
import NIOCore
import NetRelayConfig

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
        if let reason = skipReason(environment: getenv(disableVariable).map { String(cString: $0) }, status: processStatus()) {
            logger.debug("Keeping the read-only start-up pages: \(reason)", metadata: ["event": "startup-pages"])
            return 0
        }
        let bytes = Int(CNetRelay_dropCleanTextPages())
        logger.debug("Dropped the read-only start-up mappings (code, symbol tables: \(bytes >> 10) KiB mapped, of which only what was resident counts in RSS)", metadata: ["event": "startup-pages"])
        return bytes
    }

    /// `NETRELAYD_KEEP_STARTUP_PAGES=1` turns the release off (for gdb, perf or bpftrace uprobes:
    /// breakpoints and uprobes live in private copies of code pages, which MADV_DONTNEED drops).
    public static let disableVariable = "NETRELAYD_KEEP_STARTUP_PAGES"

    /// Why not to release now, or nil: switched off, or a tracer (gdb, strace) is attached —
    /// its breakpoints would silently vanish.
    static func skipReason(environment: String?, status: String?) -> String? {
        if let v = environment, !v.isEmpty, v != "0" { return "\(disableVariable)=\(v)" }
        let tracer = status?.split(separator: "\n").first { $0.hasPrefix("TracerPid:") }
            .flatMap { Int(String($0.dropFirst("TracerPid:".count).filter { $0 != " " && $0 != "\t" })) }
        if let tracer, tracer != 0 { return "a tracer (PID \(tracer)) is attached" }
        return nil
    }

    /// /proc/self/status, or nil.
    static func processStatus() -> String? {
        guard case .success(let bytes) = ConfigurationLoader.readFile("/proc/self/status") else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Call once the daemon is serving: unmaps the pages now and once more after
    /// `secondReleaseDelay`, when the first runs of the periodic work have mapped theirs.
    public static func releaseNowAndLater(on eventLoop: EventLoop, logger: Logger) {
        release(logger: logger)
        eventLoop.scheduleTask(in: secondReleaseDelay) { release(logger: logger) }
    }
}
