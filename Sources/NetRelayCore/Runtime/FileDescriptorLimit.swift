#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetRelayConfig

/// RLIMIT_NOFILE: how many files (sockets) the daemon may hold open, and whether the
/// configuration fits in it. Every TCP connection is one file descriptor; at the limit,
/// accept() fails with EMFILE and new connections wait in the backlog (see `AcceptBackoff`).
public enum FileDescriptorLimit {
    public struct Limits: Sendable, Equatable {
        public var soft: Int
        public var hard: Int
    }

    public static func current() -> Limits {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return Limits(soft: 1024, hard: 1024) }
        return Limits(soft: clamp(rl.rlim_cur), hard: clamp(rl.rlim_max))
    }

    /// Raises the soft limit to the hard one (the kernel refuses more than fs.nr_open, and
    /// RLIM_INFINITY, so an unlimited hard limit means nr_open). Returns the limits before and
    /// after; `after` equals `before` when there was nothing to raise or it failed.
    public static func raiseSoftToHard() -> (before: Limits, after: Limits) {
        let before = current()
        var target = before.hard
        if let nrOpen = readNrOpen() { target = min(target, nrOpen) }
        guard target > before.soft else { return (before, before) }
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return (before, before) }
        rl.rlim_cur = rlim_t(target)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
        return (before, current())
    }

    /// The limit the daemon will run with once it has raised its soft limit: check-config
    /// runs under the same limits as the service (ExecStartPre=), so it can tell in advance.
    public static func effective() -> Int {
        let hard = current().hard
        if let nrOpen = readNrOpen() { return min(hard, nrOpen) }
        return hard
    }

    private static func clamp(_ v: rlim_t) -> Int {
        v > rlim_t(Int.max) ? Int.max : Int(v)  // RLIM_INFINITY is all ones
    }

    private static func readNrOpen() -> Int? {
        guard let f = fopen("/proc/sys/fs/nr_open", "r") else { return nil }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 32)
        guard fgets(&buf, Int32(buf.count), f) != nil else { return nil }
        let text = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return Int(text.trimmingSuffixNewlines())
    }

    /// Whether one more file descriptor can be opened now (EMFILE/ENFILE say no). Cheap: one
    /// open and one close; only called while a listener is backing off at the limit.
    static func canOpenOne() -> Bool {
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            close(fd)
            return true
        }
        return errno != EMFILE && errno != ENFILE
    }
}

/// How many file descriptors a configuration can need at once: every connection-holding
/// listener full, plus the daemon's own files.
public struct FileDescriptorBudget: Sendable, Equatable {
    public var connections: Int
    /// stdio, the notify socket, the journal, a config file being read: 16; each event loop
    /// thread holds an epoll, an eventfd and a timerfd; each socket a listener opens, a
    /// duplicate too (the datagram sender's).
    public var own: Int
    public var total: Int { connections + own }

    public init(_ configuration: Configuration) {
        let footprints = configuration.footprints
        self.connections = footprints.reduce(0) { $0 + ($1.connections?.most ?? 0) }
        let sockets = footprints.reduce(0) { $0 + $1.sockets }
        self.own = 16 + 3 * configuration.eventLoopThreads + 2 * sockets
    }
}

extension Configuration {
    /// A warning when the listeners' connection limits (maxConnections) cannot all be open
    /// under RLIMIT_NOFILE `limit` (nil when they fit). Printed by check-config and at start.
    public func fileDescriptorWarning(file: String, limit: Int) -> ConfigurationIssue? {
        let need = FileDescriptorBudget(self)
        guard need.connections > 0, need.total > limit, let limits = connectionLimitsPhrase() else { return nil }
        let suggestion = ((need.total + 1023) / 1024) * 1024
        return ConfigurationIssue(file: file, location: largestConnectionLimitLocation, path: "listeners",
            message: "\(limits.phrase) add up to \(need.connections), plus \(need.own) file descriptors the daemon needs for itself, but RLIMIT_NOFILE is \(limit): at the limit new connections wait in the backlog until others close; raise the limit (LimitNOFILE=\(suggestion) in the unit) or lower \(limits.keys)", severity: .warning)
    }
}

private extension String {
    func trimmingSuffixNewlines() -> String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == " " { s = s.dropLast() }
        return String(s)
    }
}
