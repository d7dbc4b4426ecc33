/// A number of seconds (or a rate) as config messages and log lines print it: whole numbers
/// without a fraction ("30"), others as Swift prints a Double ("1.5", "0.25").
package func formatSeconds(_ s: Double) -> String {
    if s == s.rounded() && abs(s) < 1e15 { return String(Int(s)) }
    return String(s)
}

/// A measured or configured span for a person: "250 ms", "1.5 s", "3 min 20 s".
package func formatDuration(_ seconds: Double) -> String {
    if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
    if seconds < 120 {
        let tenths = Int((seconds * 10).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10) s" : "\(tenths / 10).\(tenths % 10) s"
    }
    return "\(Int(seconds / 60)) min \(Int(seconds) % 60) s"
}
