/// A JSON value that remembers where it came from, so configuration errors can name
/// `file:line:column` as well as the JSON path.
///
/// We parse JSON ourselves instead of using Foundation's `JSONSerialization`/`JSONDecoder`:
/// the daemon needs the position of every value (not only of syntax errors), duplicate keys
/// must be errors, and the daemon stays free of Foundation's memory footprint.
public struct JSONNode: Sendable {
    public indirect enum Value: Sendable {
        case object([Member])
        case array([JSONNode])
        case string(String)
        /// The number's literal text; readers decide whether they accept fractions.
        case number(String)
        case bool(Bool)
        case null
    }

    public struct Member: Sendable {
        public var key: String
        public var keyLocation: SourceLocation
        public var value: JSONNode
    }

    public var value: Value
    public var location: SourceLocation

    /// What this value is, in the words an error message uses ("a string", "an object").
    public var kindDescription: String {
        switch value {
        case .object: return "an object"
        case .array: return "an array"
        case .string(let s): return "the string \(JSONNode.excerpt(s))"
        case .number(let n): return "the number \(JSONNode.excerpt(number: n))"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    /// User-supplied text as a message quotes it: `quote(s)`, cut after `limit` characters, with
    /// the full length, e.g. `"nnnn…" (1048576 bytes)`, so a huge value cannot flood a log line.
    static func excerpt(_ s: String, limit: Int = 64) -> String {
        var scalars = s.unicodeScalars.makeIterator()
        var head = String.UnicodeScalarView()
        for _ in 0..<limit {
            guard let u = scalars.next() else { return JSONString.quote(s) }
            head.append(u)
        }
        guard scalars.next() != nil else { return JSONString.quote(s) }
        let quoted = JSONString.quote(String(head))
        return quoted.dropLast() + "…\" (\(s.utf8.count) bytes)"
    }

    /// A number's literal text as a message shows it: cut like `excerpt`, e.g.
    /// `1111…` (4000000 characters)`; the text is JSON number syntax, so nothing needs escaping.
    static func excerpt(number text: String, limit: Int = 64) -> String {
        let utf8 = text.utf8
        guard utf8.count > limit else { return text }
        return String(decoding: utf8.prefix(limit), as: UTF8.self) + "… (\(utf8.count) characters)"
    }

    /// A key as a JSON path shows it: escaped (`TextEscaping`: a key may hold a newline or an
    /// ESC) and cut like `excerpt`.
    static func pathComponent(_ key: String, limit: Int = 64) -> String {
        let scalars = key.unicodeScalars
        guard scalars.count > limit else { return TextEscaping.escape(key, for: .line) }
        return TextEscaping.escape(String(String.UnicodeScalarView(scalars.prefix(limit))), for: .line) + "…"
    }
}

/// A 1-based line and column (columns count Unicode scalars, as editors do).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var description: String { "\(line):\(column)" }
}

/// A JSON syntax error at a position in the text.
public struct JSONSyntaxError: Error, Sendable, Equatable {
    public var location: SourceLocation
    public var message: String
}

extension JSONNode {
    /// The value at `path` below this one: keys and indices as error paths write them
    /// ("targets[1]", "receivers[0].address"); nil when the document has nothing there.
    func find(_ path: String) -> JSONNode? {
        var node = self
        for component in path.split(separator: ".") {
            var rest = component[...]
            let key = rest.prefix { $0 != "[" }
            rest = rest.dropFirst(key.count)
            if !key.isEmpty {
                guard case .object(let members) = node.value, let member = members.first(where: { $0.key == key }) else { return nil }
                node = member.value
            }
            while rest.first == "[" {
                let digits = rest.dropFirst().prefix { $0 != "]" }
                rest = rest.dropFirst(digits.count + 2)
                guard let i = Int(digits), case .array(let items) = node.value, items.indices.contains(i) else { return nil }
                node = items[i]
            }
        }
        return node
    }
}
