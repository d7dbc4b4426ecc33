#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemd
import Logging
import NetRelayCore
import NetRelayConfig

/// Sends log records to journald with sd_journal_sendv(3): MESSAGE, PRIORITY,
/// SYSLOG_IDENTIFIER, CODE_FILE/LINE/FUNC, and each metadata key as an upper-case field
/// (`listener` → LISTENER=, `event` → EVENT=, `peer` → PEER=), so that
/// `journalctl -u netrelayd LISTENER=echo` finds a listener's lines.
public struct JournalLogHandler: ControlledLogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let control: LogLevelControl
    private let identifier: String

    public init(identifier: String = "netrelayd", control: LogLevelControl) {
        self.identifier = identifier
        self.control = control
    }

    /// True when stderr is connected to the journal (JOURNAL_STREAM names stderr's device:inode).
    public static func stderrIsJournal() -> Bool {
        guard let env = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: env).split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        Self.send(Self.fields(event, metadata: all, identifier: identifier))
    }

    /// The `FIELD=value` assignments for one record. Every value escaped as on stderr
    /// (`TextEscaping`): journald would store a newline, but `journalctl` and syslog forwarding
    /// print it as a second line, and a NUL would end the C string early.
    static func fields(_ event: LogEvent, metadata: Logger.Metadata, identifier: String) -> [String] {
        var fields: [String] = [
            "MESSAGE=\(TextEscaping.escape("\(event.message)", for: .line))",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        for (key, value) in metadata {
            fields.append("\(Self.fieldName(key))=\(TextEscaping.escape("\(value)", for: .line))")
        }
        return fields
    }

    /// syslog priorities, as journald uses them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Journal field names are upper-case letters, digits and '_', not starting with '_' or a digit.
    static func fieldName(_ key: String) -> String {
        var name = String(key.uppercased().unicodeScalars.map { scalar -> Character in
            (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9") ? Character(scalar) : "_"
        })
        while name.hasPrefix("_") { name.removeFirst() }
        if name.isEmpty || name.first!.isNumber { name = "F" + name }
        return String(name.prefix(64))
    }

    static func send(_ fields: [String]) {
        // C copies of the fields, alive until sd_journal_sendv returns.
        let copies = fields.map { strdup($0)! }
        defer { copies.forEach { free($0) } }
        var iovecs = copies.map { iovec(iov_base: UnsafeMutableRawPointer($0), iov_len: strlen($0)) }
        _ = sd_journal_sendv(&iovecs, Int32(iovecs.count))
    }
}
