/// Collects configuration issues while the decoder walks a document; nothing stops at the
/// first problem, so an operator sees every mistake in one run of `check-config`. Only the first
/// `ConfigurationIssue.shownLimit` in file order are kept, and only their messages are written:
/// the others are counted, so a file of a million unknown keys costs what a file of 50 does.
final class IssueCollector {
    let file: String
    /// Every issue reported, kept or not.
    private(set) var count = 0
    /// The kept issues in file order, by (line, column, order of report).
    private var kept: [(order: (Int, Int, Int), issue: ConfigurationIssue)] = []
    private let limit: Int

    init(file: String, limit: Int = ConfigurationIssue.shownLimit) {
        self.file = file
        self.limit = limit
    }

    /// The kept issues, in file order (cross-listener checks run last but sort by position).
    var issues: [ConfigurationIssue] { kept.map(\.issue) }

    func report(_ location: SourceLocation?, _ path: @autoclosure () -> String, _ message: @autoclosure () -> String) {
        let l = location ?? SourceLocation(line: 0, column: 0)
        let order = (l.line, l.column, count)
        count += 1
        if kept.count == limit {
            guard let last = kept.last, order < last.order else { return }
            kept.removeLast()
        }
        // Binary search: issues mostly arrive in file order, so this is usually the end.
        var lo = 0, hi = kept.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if kept[mid].order < order { lo = mid + 1 } else { hi = mid }
        }
        kept.insert((order, ConfigurationIssue(file: file, location: location, path: path(), message: message())), at: lo)
    }
}

/// How to turn one JSON value into a typed setting, and what to say when it cannot.
struct FieldType<T>: Sendable {
    /// Used in messages: "expected <expected>". Worded only when a message needs it: building
    /// the sentence for every value read was a good part of decoding a large file.
    var expected: String { describe() }
    private let describe: @Sendable () -> String
    let convert: @Sendable (JSONNode) -> Result<T, FieldProblem>

    init(expected: @autoclosure @escaping @Sendable () -> String, convert: @escaping @Sendable (JSONNode) -> Result<T, FieldProblem>) {
        describe = expected
        self.convert = convert
    }
}

struct FieldProblem: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Reads one JSON object of the configuration, remembering which keys it asked for, so that
/// the keys nobody asked for can be reported as unknown (with a "did you mean").
package final class ObjectReader {
    let collector: IssueCollector
    let path: String
    let node: JSONNode
    private let members: [JSONNode.Member]
    private var asked: [String] = []
    private var ignored: Set<String> = []

    /// Nil when `node` is not an object (that is reported).
    init?(_ node: JSONNode, path: String, what: String, collector: IssueCollector) {
        self.collector = collector
        self.path = path
        self.node = node
        guard case .object(let members) = node.value else {
            collector.report(node.location, path, "expected \(what) (a JSON object {...}), got \(node.kindDescription)")
            return nil
        }
        self.members = members
    }

    /// The keys read so far, in order (a key read twice is listed twice).
    var askedKeys: [String] { asked }

    func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool { members.contains { $0.key == key } }

    /// Accepts a key without reading it and without listing it among the known keys in messages
    /// (the top-level "$schema", which only editors and validators read).
    func ignore(_ key: String) { ignored.insert(key) }

    /// The raw value of a key, marking the key as known (`asked` may list a key twice).
    func raw(_ key: String) -> JSONNode? {
        asked.append(key)
        return members.first { $0.key == key }?.value
    }

    /// A key that may be absent; a present but invalid value is reported and yields nil.
    func optional<T>(_ key: String, _ type: FieldType<T>) -> T? {
        guard let value = raw(key) else { return nil }
        if case .null = value.value {
            collector.report(value.location, childPath(key), "null is not allowed; expected \(type.expected) (remove the key to use the default)")
            return nil
        }
        switch type.convert(value) {
        case .success(let v): return v
        case .failure(let problem):
            collector.report(value.location, childPath(key), problem.message)
            return nil
        }
    }

    /// A key that may be absent, with its documented default.
    func value<T>(_ key: String, _ type: FieldType<T>, default defaultValue: T) -> T {
        optional(key, type) ?? defaultValue
    }

    /// A key that must be present; `example` completes the message ("e.g. ...").
    func required<T>(_ key: String, _ type: FieldType<T>, example: String) -> T? {
        guard has(key) else {
            _ = raw(key)
            collector.report(node.location, path, "missing required key \"\(key)\": \(type.expected), e.g. \"\(key)\": \(example)")
            return nil
        }
        return optional(key, type)
    }

    /// Reports every key that no reader asked for. `elsewhere` maps keys that belong to other
    /// kinds of listener to the name of that kind, for a more useful message.
    /// Only the messages that are kept are written (`IssueCollector`), and the list of known
    /// keys only in the first of an object's messages that needs it: a file of unknown keys
    /// must not cost a sentence, a search for the nearest key and the key list per key.
    func rejectUnknownKeys(context: String, elsewhere: [String: String] = [:]) {
        let known = Set(asked)
        let asked = known.sorted()
        var listed = false
        for member in members where !known.contains(member.key) && !ignored.contains(member.key) {
            collector.report(member.keyLocation, childPath(JSONNode.pathComponent(member.key)), {
                var message = "unknown key \(JSONNode.excerpt(member.key)) in \(context)"
                if let suggestion = ObjectReader.closest(to: member.key, among: asked) {
                    message += "; did you mean \"\(suggestion)\"?"
                } else if let owner = elsewhere[member.key] {
                    message += "; \"\(member.key)\" is a setting of \(owner) listeners"
                } else if listed {
                    message += " (known keys: see above)"
                } else {
                    listed = true
                    message += "; known keys are: " + asked.map { "\"\($0)\"" }.joined(separator: ", ")
                }
                return message
            }())
        }
    }

    /// The known key nearest to a misspelt one, if it is near enough to be a typo.
    static func closest(to key: String, among candidates: [String]) -> String? {
        let lower = key.lowercased()
        var best: (String, Int)?
        for c in candidates {
            if c.lowercased() == lower { return c }
            let limit = max(1, min(3, c.count / 4))
            // The distance is at least the difference in length; skipping those keeps a huge key
            // from costing its length times every candidate's.
            if abs(lower.unicodeScalars.count - c.unicodeScalars.count) > limit { continue }
            let d = EditDistance.between(lower, c.lowercased())
            if d <= limit, best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

}

// MARK: - Field types
