/// A strict RFC 8259 parser over UTF-8 bytes. Rejects duplicate keys, trailing commas and
/// comments, each with a message that says how to fix the text.
public struct JSONParser {
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var lineStart = 0
    var depth = 0
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
    var columnIndex = 0
    var column = 1

    var location: SourceLocation {
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

    mutating func fail(_ message: String, at loc: SourceLocation? = nil) -> JSONSyntaxError {
        JSONSyntaxError(location: loc ?? location, message: message)
    }

    mutating func parseDocument() throws(JSONSyntaxError) -> JSONNode {
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

    func describeHere() -> String {
        guard index < bytes.count else { return "end of file" }
        let b = bytes[index]
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x\(String(b, radix: 16).leftPadded(to: 2))"
    }

    mutating func skipWhitespace() {
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

    mutating func parseValue() throws(JSONSyntaxError) -> JSONNode {
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

    mutating func expectLiteral(_ word: StaticString) throws(JSONSyntaxError) {
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

    func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x5F
    }

    mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        if depth > JSONParser.maxDepth { throw fail("values are nested more than \(JSONParser.maxDepth) levels deep") }
    }

    mutating func parseObject() throws(JSONSyntaxError) -> JSONNode.Value {
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

    mutating func parseArray() throws(JSONSyntaxError) -> JSONNode.Value {
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
}
