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
        case .number(let n): return "the number \(n)"
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

    /// A key as a JSON path shows it, cut like `excerpt`.
    static func pathComponent(_ key: String, limit: Int = 64) -> String {
        let scalars = key.unicodeScalars
        guard scalars.count > limit else { return key }
        return String(String.UnicodeScalarView(scalars.prefix(limit))) + "…"
    }
}

/// A 1-based line and column (columns count Unicode scalars, as editors do).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
    public var description: String { "\(line):\(column)" }
}

/// A JSON syntax error at a position in the text.
public struct JSONSyntaxError: Error, Sendable, Equatable {
    public var location: SourceLocation
    public var message: String
}

/// A strict RFC 8259 parser over UTF-8 bytes. Rejects duplicate keys, trailing commas and
/// comments, each with a message that says how to fix the text.
public struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var depth = 0
    private static let maxDepth = 64

    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONNode {
        var parser = JSONParser(bytes: bytes)
        return try parser.parseDocument()
    }

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONNode {
        try parse(Array(text.utf8))
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
        // A UTF-8 byte order mark is harmless; skip it.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            index = 3
            lineStart = 3
        }
    }

    /// Where the last column count stopped: the column of the byte at `columnIndex`.
    private var columnIndex = 0
    private var column = 1

    private var location: SourceLocation {
        mutating get {
            // Count scalars, not bytes, from the start of the line, carrying on from the last count:
            // starting over from the line start made every value cost the length of its line, which
            // is quadratic for a config written on one line (as json.dumps writes it).
            if columnIndex < lineStart || columnIndex > index {
                columnIndex = lineStart
                column = 1
            }
            let end = min(index, bytes.count)
            while columnIndex < end {
                if bytes[columnIndex] & 0xC0 != 0x80 { column += 1 }
                columnIndex += 1
            }
            return SourceLocation(line: line, column: column)
        }
    }

    private mutating func fail(_ message: String, at loc: SourceLocation? = nil) -> JSONSyntaxError {
        JSONSyntaxError(location: loc ?? location, message: message)
    }

    private mutating func parseDocument() throws(JSONSyntaxError) -> JSONNode {
        skipWhitespace()
        if index >= bytes.count { throw fail("the file is empty; expected a JSON object such as {\"listeners\": [...]}") }
        let node = try parseValue()
        skipWhitespace()
        if index < bytes.count {
            if bytes[index] == UInt8(ascii: "/") { throw fail("comments are not allowed in JSON; remove the comment") }
            throw fail("unexpected \(describeHere()) after the end of the top-level value; remove it or check for a missing '[' or '{'")
        }
        return node
    }

    private func describeHere() -> String {
        guard index < bytes.count else { return "end of file" }
        let b = bytes[index]
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x\(String(b, radix: 16).leftPadded(to: 2))"
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0D: index += 1
            case 0x0A:
                index += 1
                line += 1
                lineStart = index
            default: return
            }
        }
    }

    private mutating func parseValue() throws(JSONSyntaxError) -> JSONNode {
        skipWhitespace()
        let loc = location
        guard index < bytes.count else { throw fail("unexpected end of file; expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return JSONNode(value: try parseObject(), location: loc)
        case UInt8(ascii: "["): return JSONNode(value: try parseArray(), location: loc)
        case UInt8(ascii: "\""): return JSONNode(value: .string(try parseString()), location: loc)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONNode(value: .number(try parseNumber()), location: loc)
        case UInt8(ascii: "t"): try expectLiteral("true"); return JSONNode(value: .bool(true), location: loc)
        case UInt8(ascii: "f"): try expectLiteral("false"); return JSONNode(value: .bool(false), location: loc)
        case UInt8(ascii: "n"): try expectLiteral("null"); return JSONNode(value: .null, location: loc)
        case UInt8(ascii: "/"): throw fail("comments are not allowed in JSON; remove the comment")
        case UInt8(ascii: "'"): throw fail("keys and strings must use double quotes (\"...\"), not single quotes")
        default:
            throw fail("unexpected \(describeHere()); expected a value (object, array, string, number, true, false or null)")
        }
    }

    private mutating func expectLiteral(_ word: StaticString) throws(JSONSyntaxError) {
        let start = location
        let w = word.withUTF8Buffer { Array($0) }
        guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else {
            var end = index
            while end < bytes.count, isWordByte(bytes[end]) { end += 1 }
            let word = String(decoding: bytes[index..<end], as: UTF8.self)
            let got = word.utf8.count > 40 ? JSONNode.excerpt(word) : "'\(word)'"
            throw fail("unknown word \(got); expected a value (strings need double quotes)", at: start)
        }
        index += w.count
        if index < bytes.count, isWordByte(bytes[index]) {
            throw fail("unexpected \(describeHere()) after '\(word)'")
        }
    }

    private func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x5F
    }

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        if depth > JSONParser.maxDepth { throw fail("values are nested more than \(JSONParser.maxDepth) levels deep") }
    }

    private mutating func parseObject() throws(JSONSyntaxError) -> JSONNode.Value {
        try enter()
        defer { depth -= 1 }
        index += 1  // {
        var members: [JSONNode.Member] = []
        // Duplicate keys: a linear look through small objects (most of a config), a dictionary
        // once an object grows, so that a huge object stays linear.
        var seen: [String: SourceLocation] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of file inside an object; expected a \"key\" or '}'") }
            let keyLoc = location
            switch bytes[index] {
            case UInt8(ascii: "\""): break
            case UInt8(ascii: "}"): throw fail("trailing comma before '}' is not allowed in JSON; remove the last ','")
            case UInt8(ascii: "/"): throw fail("comments are not allowed in JSON; remove the comment")
            case UInt8(ascii: "'"): throw fail("keys and strings must use double quotes (\"...\"), not single quotes")
            default: throw fail("expected a \"key\" in double quotes, found \(describeHere())")
            }
            let key = try parseString()
            if members.count == 16 { for m in members { seen[m.key] = m.keyLocation } }
            let first = members.count < 16 ? members.first(where: { $0.key == key })?.keyLocation : seen[key]
            if let first {
                throw fail("duplicate key \(JSONNode.excerpt(key)) (first at line \(first.line), column \(first.column)); remove one of them", at: keyLoc)
            }
            if members.count >= 16 { seen[key] = keyLoc }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw fail("expected ':' after the key \(JSONNode.excerpt(key)), found \(describeHere())")
            }
            index += 1
            let value = try parseValue()
            members.append(.init(key: key, keyLocation: keyLoc, value: value))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of file inside an object; expected ',' or '}'") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(members)
            case UInt8(ascii: "\""): throw fail("expected ',' or '}' after the value of \(JSONNode.excerpt(key)); a comma is missing")
            default: throw fail("expected ',' or '}' after the value of \(JSONNode.excerpt(key)), found \(describeHere())")
            }
        }
    }

    private mutating func parseArray() throws(JSONSyntaxError) -> JSONNode.Value {
        try enter()
        defer { depth -= 1 }
        index += 1  // [
        var items: [JSONNode] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                throw fail("trailing comma before ']' is not allowed in JSON; remove the last ','")
            }
            items.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of file inside an array; expected ',' or ']'") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(items)
            default: throw fail("expected ',' or ']' after an array element, found \(describeHere()); a comma may be missing")
            }
        }
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        let start = location
        index += 1  // opening quote
        // Most strings have no escapes: take them straight from the input, without a copy.
        var end = index
        var ascii = true
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 {
            ascii = ascii && bytes[end] < 0x80
            end += 1
        }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            let s = bytes.withUnsafeBufferPointer { all -> String? in
                let text = UnsafeBufferPointer(rebasing: all[index..<end])
                // ASCII is valid UTF-8 as it is; the validating initializer is much slower (generic).
                return ascii ? String(decoding: text, as: UTF8.self) : String(validating: text, as: UTF8.self)
            }
            guard let s else { throw fail("the string is not valid UTF-8", at: start) }
            index = end + 1
            return s
        }
        var out: [UInt8] = Array(bytes[index..<end])
        index = end
        while true {
            guard index < bytes.count else { throw fail("unterminated string (it starts at line \(start.line), column \(start.column)); add the closing '\"'", at: start) }
            let b = bytes[index]
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                guard let s = String(validating: out, as: UTF8.self) else {
                    throw fail("the string is not valid UTF-8", at: start)
                }
                return s
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw fail("unterminated escape sequence") }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail("a \\u escape for a high surrogate must be followed by a low surrogate")
                        }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid low surrogate in \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired low surrogate in \\u escape")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    index -= 2  // point at the backslash
                    throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))' in a string; valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX")
                }
            case 0x0A:
                throw fail("a string cannot contain a line break; close it with '\"' or write \\n")
            case 0x00..<0x20:
                throw fail("a string cannot contain the control character 0x\(String(b, radix: 16).leftPadded(to: 2)); escape it")
            default:
                out.append(b)
                index += 1
            }
        }
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("a \\u escape needs four hex digits") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw fail("a \\u escape needs four hex digits")
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> String {
        let start = index
        func digits() -> Int {
            let s = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            return index - s
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        let intStart = index
        let n = digits()
        if n == 0 { throw fail("a number needs digits after '-'") }
        if n > 1 && bytes[intStart] == UInt8(ascii: "0") {
            index = intStart
            throw fail("numbers cannot have leading zeros")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            if digits() == 0 { throw fail("a number needs digits after the decimal point") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            if digits() == 0 { throw fail("a number needs digits in its exponent") }
        }
        if index < bytes.count, isWordByte(bytes[index]) {
            throw fail("unexpected \(describeHere()) in a number; if this is text, put it in double quotes")
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
}
