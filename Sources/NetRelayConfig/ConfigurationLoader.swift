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

    /// Loads with the given table of kinds (`ListenerKinds.standard` through `load(path:)`).
    package static func load(path: String, kinds: [any ListenerKindSchema]) -> Result<Configuration, ConfigurationError> {
        switch readFile(path) {
        case .failure(let failure):
            return .failure(ConfigurationError(issues: [ConfigurationIssue(file: path, location: nil, path: "", message: failure.message)]))
        case .success(let bytes):
            return ConfigurationDecoder.decode(bytes, file: path, kinds: kinds)
        }
    }

    /// The whole file, or a sentence saying why it could not be read.
    ///
    /// Only regular files are read. A FIFO would block the reader until someone writes to it (for
    /// ever, in `check-config`), a device can be endless or have side effects on open, so the
    /// path is checked with stat(2) before it is opened, and again with fstat(2) on the descriptor
    /// (opened with O_NONBLOCK, in case it was swapped for a FIFO in between).
    package static func readFile(_ path: String) -> Result<[UInt8], ReadFailure> {
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

package struct ReadFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
