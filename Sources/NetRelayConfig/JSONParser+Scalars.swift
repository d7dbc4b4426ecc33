/// Strings, `\u` escapes and numbers: the scalar half of `JSONParser`.
extension JSONParser {
    mutating func parseString() throws(JSONSyntaxError) -> String {
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
        return try parseEscapedString(start: start, into: &out)
    }

    /// The rest of a string that has escapes (or is unterminated), its unescaped head in `out`.
    mutating func parseEscapedString(start: SourceLocation, into out: inout [UInt8]) throws(JSONSyntaxError) -> String {
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
                try parseEscape(into: &out)
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

    /// One escape after its backslash: appends the bytes it stands for.
    mutating func parseEscape(into out: inout [UInt8]) throws(JSONSyntaxError) {
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
            let u = try parseUnicodeEscape()
            out.append(contentsOf: Array(String(Character(u)).utf8))
        default:
            index -= 2  // point at the backslash
            throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))' in a string; valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX")
        }
    }

    /// `\uXXXX` after its `\u`, with the low half of a surrogate pair.
    mutating func parseUnicodeEscape() throws(JSONSyntaxError) -> Unicode.Scalar {
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
        return u
    }

    mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
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

    mutating func parseNumber() throws(JSONSyntaxError) -> String {
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
