/// JSON string literals, for every place that writes one: config messages, log lines, the
/// multicast announcement, /status.json and netrelayctl's output.
public enum JSONString {
    /// `s` as a JSON string: `"`, `\` and what `TextEscaping` escapes.
    public static func quote(_ s: String) -> String {
        "\"" + TextEscaping.escape(s, for: .json) + "\""
    }
}
