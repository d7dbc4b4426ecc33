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
    public var description: String {
        var s = file
        if let location { s += ":\(location.line):\(location.column)" }
        s += ": "
        if severity == .warning { s += "warning: " }
        if !path.isEmpty { s += "\(path): " }
        return s + message
    }
}

/// Every problem found in a configuration file; loading reports them all at once.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigurationIssue]

    public init(issues: [ConfigurationIssue]) {
        self.issues = issues
    }

    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }

    /// One line for STATUS=: the first issue, and how many more there are.
    public var summary: String {
        guard let first = issues.first else { return "invalid configuration" }
        let more = issues.count > 1 ? " (and \(issues.count - 1) more)" : ""
        return first.description + more
    }
}
