/// JSON string literals, for every place that writes one: config messages, log lines, the
/// multicast announcement, /status.json and netrelayctl's output.
public enum JSONString {
    /// `s` as a JSON string: `"`, `\` and control characters (U+0000–U+001F, U+007F) escaped, so
    /// the result is valid JSON and prints on one line without raw control bytes.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where ch.value < 0x20 || ch.value == 0x7F:
                let hex = String(ch.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }
}
