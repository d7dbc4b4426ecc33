import NetRelayConfig

/// Text from outside (listener names, addresses, errors, interface names from a config) as it
/// goes into the status page's HTML, as element content or as a quoted attribute value.
public enum HTMLText {
    /// Control characters made visible first (the rule every other output uses, `TextEscaping`:
    /// C0, C1 and the bidirectional controls, which could make a name read backwards in a
    /// browser), then the five characters HTML gives a meaning.
    public static func escape(_ s: String) -> String {
        var out = ""
        for ch in TextEscaping.escape(s, for: .line).unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
