#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads, decodes and validates a configuration file.
public enum ConfigurationLoader {
    /// Configuration files are small; a bigger file is a mistake (a log, a binary), not a config.
    public static let maxFileSize = 4 << 20

    public static func load(path: String) -> Result<Configuration, ConfigurationError> {
        switch readFile(path) {
        case .failure(let failure):
            return .failure(ConfigurationError(issues: [ConfigurationIssue(file: path, location: nil, path: "", message: failure.message)]))
        case .success(let bytes):
            return ConfigurationDecoder.decode(bytes, file: path)
        }
    }

    /// The whole file, or a sentence saying why it could not be read.
    ///
    /// Only regular files are read. A FIFO would block the reader until someone writes to it (for
    /// ever, in `check-config`), a device can be endless or have side effects on open, so the
    /// path is checked with stat(2) before it is opened, and again with fstat(2) on the descriptor
    /// (opened with O_NONBLOCK, in case it was swapped for a FIFO in between).
    static func readFile(_ path: String) -> Result<[UInt8], ReadFailure> {
        var st = stat()
        if stat(path, &st) == 0, let problem = notRegular(st) { return .failure(problem) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let e = errno
            var hint = ""
            if e == ENOENT { hint = "; check the path, or pass another with --config" }
            if e == EACCES { hint = "; the daemon's user cannot read it (check its mode and owner)" }
            return .failure(ReadFailure("cannot open the file: \(errnoDescription(e))\(hint)"))
        }
        defer { close(fd) }
        guard fstat(fd, &st) == 0 else { return .failure(ReadFailure("cannot read the file: \(errnoDescription(errno))")) }
        if let problem = notRegular(st) { return .failure(problem) }
        let tooLarge = ReadFailure("the file is larger than \(maxFileSize >> 20) MiB; this is not a netrelayd configuration")
        if Int(st.st_size) > maxFileSize { return .failure(tooLarge) }
        // Read into one buffer of the stat'ed size (plus a byte to notice growth): appending
        // 64 KiB chunks to an array copied the file several times over.
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
        var count = 0
        while true {
            if count == bytes.count {
                if count > maxFileSize { return .failure(tooLarge) }
                bytes.append(contentsOf: repeatElement(0, count: min(max(count, 65536), maxFileSize + 1 - count)))
            }
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure("cannot read the file: \(errnoDescription(errno))"))
            }
            if n == 0 { break }
            count += n
        }
        if count > maxFileSize { return .failure(tooLarge) }
        bytes.removeLast(bytes.count - count)
        return .success(bytes)
    }

    /// Why a file of this type is not read, or nil for a regular file.
    private static func notRegular(_ st: stat) -> ReadFailure? {
        let what: String
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return ReadFailure("is a directory; pass the path of the JSON file")
        case S_IFIFO: what = "a FIFO (named pipe)"
        case S_IFCHR: what = "a character device"
        case S_IFBLK: what = "a block device"
        case S_IFSOCK: what = "a socket"
        default: what = "neither a file nor a directory"
        }
        return ReadFailure("is \(what), not a regular file; netrelayd reads its configuration only from a regular file (write the JSON to a file and pass its path)")
    }
}

struct ReadFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

extension Configuration {
    /// Things that are valid but probably not what the operator meant; logged at start and
    /// printed by check-config, never fatal.
    public func warnings(file: String) -> [ConfigurationIssue] {
        var out: [ConfigurationIssue] = []
        for (i, l) in listeners.enumerated() {
            let path = "listeners[\(i)]"
            switch l.kind {
            case .multicastAnnouncer(let m):
                // 224.0.0.0/24 is link-local (never routed, whatever the TTL); 239/8 is site-scoped.
                if case .v4(let a) = m.group, a >> 24 != 239, a >> 8 != 0xE00000, m.ttl > 1 {
                    out.append(ConfigurationIssue(file: file, location: nil, path: "\(path).ttl",
                        message: "ttl \(m.ttl) lets announcements to \(m.group) cross routers, and the group is outside the administratively scoped range 239.0.0.0/8; use a 239.x.x.x group or ttl 1 unless the announcements must leave this site"))
                }
                // The scope is the low nibble of the second byte: 2 link, 4 admin, 5 site, 8 organization, e global.
                if case .v6(let hi, _) = m.group, (hi >> 48) & 0xF > 5, m.ttl > 1 {
                    out.append(ConfigurationIssue(file: file, location: nil, path: "\(path).ttl",
                        message: "hop limit \(m.ttl) with \(m.group), a group wider than site scope; use a site-local group (ff05::/16) unless the announcements must leave this site"))
                }
            case .tcpEcho(let t):
                if t.maxConnectionsPerSource > t.maxConnections {
                    out.append(ConfigurationIssue(file: file, location: nil, path: "\(path).maxConnectionsPerSource",
                        message: "\(t.maxConnectionsPerSource) is more than maxConnections (\(t.maxConnections)), so it never applies"))
                }
            case .udpResponder(let u):
                if u.rateLimit == 0 && !u.listen.address.isLoopback {
                    out.append(ConfigurationIssue(file: file, location: nil, path: "\(path).rateLimit",
                        message: "rate limiting is off on a non-loopback address; a spoofed source can use this responder to reflect traffic at a victim"))
                }
                if let w = totalBelowPerSource(total: u.totalRateLimit, perSource: u.rateLimit, what: "replies", file: file, path: path) { out.append(w) }
                let sizing = DatagramReceiveSizing(maxDatagramSize: u.maxDatagramSize, vectorReadCount: u.vectorReadCount)
                if sizing.lowered {
                    out.append(ConfigurationIssue(file: file, location: nil, path: "\(path).vectorReadCount", message: sizing.loweredExplanation))
                }
            case .broadcastRebroadcaster(let b):
                if b.rateLimit == 0 {
                    out.append(ConfigurationIssue(file: file, location: nil, path: "\(path).rateLimit",
                        message: "rate limiting is off: one source, or a loop through a relay that does not drop our relay mark, can make this rebroadcaster send as fast as it can; set a rate such as 100 (rebroadcasts per second per source)"))
                }
                if let w = totalBelowPerSource(total: b.totalRateLimit, perSource: b.rateLimit, what: "rebroadcasts", file: file, path: path) { out.append(w) }
            }
        }
        return out
    }

    private func totalBelowPerSource(total: Double, perSource: Double, what: String, file: String, path: String) -> ConfigurationIssue? {
        guard total > 0, perSource > 0, total < perSource else { return nil }
        return ConfigurationIssue(file: file, location: nil, path: "\(path).totalRateLimit",
            message: "totalRateLimit (\(formatSeconds(total)) \(what)/s across all sources) is below what one source may have (rateLimit \(formatSeconds(perSource))), so a single client can use up the whole listener's budget; raise totalRateLimit, or lower rateLimit")
    }
}
