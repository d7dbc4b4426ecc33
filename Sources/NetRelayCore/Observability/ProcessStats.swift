#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetRelayConfig

/// The standard `process_*` facts, read from /proc/self at scrape time (as the Go and Python
/// Prometheus clients do).
public struct ProcessStats: Sendable, Equatable {
    public var openFDs: Int
    public var maxFDs: Int
    public var residentMemoryBytes: Int
    public var cpuSeconds: Double

    public init(openFDs: Int, maxFDs: Int, residentMemoryBytes: Int, cpuSeconds: Double) {
        self.openFDs = openFDs
        self.maxFDs = maxFDs
        self.residentMemoryBytes = residentMemoryBytes
        self.cpuSeconds = cpuSeconds
    }

    /// Nil where /proc is not mounted.
    public static func current() -> ProcessStats? {
        guard case .success(let bytes) = ConfigurationLoader.readFile("/proc/self/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); utime is field 14, stime 15, rss 24.
        guard fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]), let rss = Int(fields[21]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var limit = rlimit()
        let maxFDs = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(limit.rlim_cur) : 0
        return ProcessStats(openFDs: countOpenFDs(), maxFDs: maxFDs, residentMemoryBytes: rss * page, cpuSeconds: (utime + stime) / ticks)
    }

    private static func countOpenFDs() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            if entry.pointee.d_name.0 != 0x2E { n += 1 }
        }
        // Not counting the descriptor opendir itself holds.
        return max(0, n - 1)
    }
}

/// Seconds since the Unix epoch, now.
public func wallClockSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
