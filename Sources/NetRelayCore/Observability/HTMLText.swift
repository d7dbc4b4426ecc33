import NetRelayConfig

/// Text from outside (listener names, addresses, errors, interface names from a config) as it
/// goes into the status page's HTML, as element content or as a quoted attribute value.
public enum HTMLText {
    /// Control characters made visible first (the rule every other output uses:
    /// `TextEscaping`; here also C1 controls and the bidirectional overrides, which could make
    /// a name read backwards in a browser), then the five characters HTML gives a meaning.
    public static func escape(_ s: String) -> String {
        var out = ""
        for ch in TextEscaping.escape(s, for: .terminal).unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case _ where (0x80...0x9F).contains(ch.value) || (0x202A...0x202E).contains(ch.value) || (0x2066...0x2069).contains(ch.value):
                out += "\\u{" + String(ch.value, radix: 16) + "}"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
