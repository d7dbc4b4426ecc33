extension String {
    /// "7" -> "007" for `leftPadded(to: 3)`: hex escapes, byte values, milliseconds in timestamps.
    package func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
