/// JSON string literals, for every place that writes one: config messages, log lines, the
/// multicast announcement, /status.json and netrelayctl's output.
public enum JSONString {
    /// `s` as a JSON string: `"`, `\` and control characters escaped (`TextEscaping`).
    public static func quote(_ s: String) -> String {
        "\"" + TextEscaping.escape(s, for: .json) + "\""
    }
}

/// Text with its control characters (U+0000–U+001F and U+007F) written as escapes, so that it
/// prints on one line without raw control bytes.
public enum TextEscaping {
    public enum Style: Sendable {
        /// Inside a JSON string: `\n`, `\t`, `\r`, `\u001f`, and `\"` and `\\` too.
        case json
        /// A terminal line (netrelayctl's received text): `\n`, `\t`, `\r`, `\u{1f}`; quotes and
        /// backslashes stay as they are.
        case terminal
    }

    public static func escape(_ s: String, for style: Style) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\"" where style == .json: out += "\\\""
            case "\\" where style == .json: out += "\\\\"
            case _ where ch.value < 0x20 || ch.value == 0x7F:
                let hex = String(ch.value, radix: 16)
                out += style == .json ? "\\u" + hex.leftPadded(to: 4) : "\\u{" + hex + "}"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
