/// The one rule for text that leaves the process (log lines on stderr and in the journal,
/// journal fields, STATUS= and every notify message, /status.json, /metrics label values,
/// netrelayctl's output): characters that could forge a line, move a terminal's cursor,
/// reorder what a reader sees or make a receiver drop the message are written as escapes.
///
/// Escaped: C0 controls (U+0000–U+001F, NUL and newlines among them), DEL, C1 controls
/// (U+0080–U+009F), the line and paragraph separators U+2028/U+2029, and the bidirectional
/// controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069). Bytes that are not UTF-8
/// become `\xHH` where text is read from bytes (`fromBytes`). Everything else, including `\`
/// in a line, stays as it is, so escaping escaped text changes nothing.
public enum TextEscaping {
    public enum Style: Sendable {
        /// Inside a JSON string: `\n`, `\t`, `\r`, `\u001b`, `\u202e`, and `\"` and `\\` too.
        case json
        /// A line of text (logs, STATUS=, labels, a terminal): `\n`, `\t`, `\r`, `\u{1b}`,
        /// `\u{202e}`; quotes and backslashes stay as they are.
        case line
    }

    /// Whether `scalar` is written as an escape in every style.
    @inlinable
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x20 || (v >= 0x7F && v <= 0x9F) { return true }
        guard v >= 0x061C else { return false }
        switch v {
        case 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    public static func escape(_ s: String, for style: Style) -> String {
        if !needsEscaping(s, style) { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 16)
        for ch in s.unicodeScalars {
            switch ch {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\"" where style == .json: out += "\\\""
            case "\\" where style == .json: out += "\\\\"
            case _ where isUnsafe(ch):
                let hex = String(ch.value, radix: 16)
                out += style == .json ? "\\u" + hex.leftPadded(to: 4) : "\\u{" + hex + "}"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Whether `escape` would change `s`: one pass over the UTF-8 bytes, looking only at the lead
    /// bytes the unsafe characters can start with (most text has none, and is returned as is).
    @inlinable
    public static func needsEscaping(_ s: String, _ style: Style) -> Bool {
        var s = s
        return s.withUTF8 { bytes in
            for b in bytes {
                // C0, DEL; C2 leads U+0080–U+00BF (C1), D8 U+061C, E2 U+2000–U+2FFF.
                if b < 0x20 || b == 0x7F || b == 0xC2 || b == 0xD8 || b == 0xE2 { return true }
                if style == .json, b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { return true }
            }
            return false
        }
    }

    /// Text read from outside as bytes (an interface name, a datagram): valid UTF-8 as it is,
    /// every byte that is not part of valid UTF-8 as the four characters `\xHH`. The result still
    /// goes through `escape` on its way out, like any other text.
    public static func fromBytes<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        if let valid = String(validating: bytes, as: UTF8.self) { return valid }
        let b = Array(bytes)
        var out = ""
        var i = 0
        while i < b.count {
            let lead = b[i]
            let length = lead < 0x80 ? 1 : lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0
            if length > 0, i + length <= b.count, let scalar = String(validating: b[i..<(i + length)], as: UTF8.self) {
                out += scalar
                i += length
            } else {
                out += "\\x" + String(lead, radix: 16, uppercase: true).leftPadded(to: 2)
                i += 1
            }
        }
        return out
    }
}
