/// One problem in a configuration file: where it is (file, line:column, JSON path) and what
/// to write instead.
public struct ConfigurationIssue: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var location: SourceLocation?
    /// `listeners[2].group`; empty for the whole document.
    public var path: String
    public var message: String
    /// An error refuses the file; a warning (valid, but probably not meant) does not.
    public var severity: Severity

    public enum Severity: Sendable, Equatable {
        case error, warning
    }

    public init(file: String, location: SourceLocation?, path: String, message: String, severity: Severity = .error) {
        self.file = file
        self.location = location
        self.path = path
        self.message = message
        self.severity = severity
    }

    /// `config.json:14:17: listeners[2].group: <message>`, the form compilers use so editors can
    /// jump to it; a warning reads `config.json:14:17: warning: listeners[2].ttl: <message>`.
    /// Escaped as every line that leaves the daemon is (`TextEscaping`): a key or a file name may
    /// hold a newline.
    public var description: String {
        var s = file
        if let location { s += ":\(location.line):\(location.column)" }
        s += ": "
        if severity == .warning { s += "warning: " }
        if !path.isEmpty { s += "\(path): " }
        return TextEscaping.escape(s + message, for: .line)
    }

    /// How many issues are printed (check-config) or logged (at start, on reload) before the
    /// rest are only counted, as compilers do: a file of a million mistakes prints 50 of them.
    public static let shownLimit = 50

    /// The lines for `issues` (found `total` in all): the first `shownLimit`, then
    /// `… and 358,721 more errors` (or warnings) when there were more.
    public static func lines(_ issues: [ConfigurationIssue], total: Int? = nil) -> [String] {
        let total = total ?? issues.count
        var lines = issues.prefix(shownLimit).map(\.description)
        let more = total - lines.count
        if more > 0 {
            let noun = issues.first?.severity == .warning ? "warning" : "error"
            lines.append("… and \(grouped(more)) more \(noun)\(more == 1 ? "" : "s")")
        }
        return lines
    }

    /// 358721 -> "358,721".
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = n < 0 ? "-" : ""
        for (i, d) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "," }
            out.append(d)
        }
        return out
    }
}

/// The problems found in a configuration file: the first `ConfigurationIssue.shownLimit` in
/// file order (all of them, for any file a person wrote) and how many there were in all.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigurationIssue]
    /// Every issue found, `issues` and those only counted.
    public var total: Int

    public init(issues: [ConfigurationIssue], total: Int? = nil) {
        self.issues = issues
        self.total = max(total ?? issues.count, issues.count)
    }

    /// The lines to print or log: at most `shownLimit` issues, then how many more.
    public var lines: [String] { ConfigurationIssue.lines(issues, total: total) }

    public var description: String {
        lines.joined(separator: "\n")
    }

    /// One line for STATUS=: the first issue, and how many more there are.
    public var summary: String {
        guard let first = issues.first else { return "invalid configuration" }
        let more = total > 1 ? " (and \(ConfigurationIssue.grouped(total - 1)) more)" : ""
        return first.description + more
    }
}
