#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NetRelayConfig

/// Plain lines on stderr when the daemon does not run under journald:
/// `2026-11-27T14:03:04.123Z info  [echo] Listening: ... (event=listening)`.
public struct StderrLogHandler: ControlledLogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let control: LogLevelControl

    public init(control: LogLevelControl) {
        self.control = control
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let listener = all.removeValue(forKey: "listener")
        all.removeValue(forKey: "kind")
        // One record is one line: whatever the message quotes (a config key, an interface
        // name) is escaped (`TextEscaping`), so it cannot start a forged line or drive a terminal.
        var line = "\(Self.timestamp()) \(event.level.rawValue.padding(8))"
        if let listener { line += "[\(TextEscaping.escape("\(listener)", for: .line))] " }
        line += TextEscaping.escape("\(event.message)", for: .line)
        if !all.isEmpty {
            line += " (" + all.sorted { $0.key < $1.key }.map { TextEscaping.escape("\($0.key)=\($0.value)", for: .line) }.joined(separator: " ") + ")"
        }
        line += "\n"
        line.withCString { p in
            var off = 0
            let len = strlen(p)
            while off < len {
                let n = write(2, p + off, len - off)
                if n <= 0 { if errno == EINTR { continue }; break }
                off += n
            }
        }
    }

    /// UTC, millisecond precision, without Foundation.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tmv = tm()
        gmtime_r(&t, &tmv)
        var buf = [CChar](repeating: 0, count: 32)
        let n = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%S", &tmv)
        let base = buf.withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0).prefix(n), as: UTF8.self) }
        let ms = Int(ts.tv_nsec / 1_000_000)
        return base + "." + String(ms).leftPadded(to: 3) + "Z"
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
