import Testing
@testable import NetRelayCore

/// The helpers every layer shares (Sources/NetRelayCore/Support): their exact output, since
/// config messages, log lines, the announcement and netrelayctl all print it.
@Suite("Support: edit distance, JSON quoting, durations, errno text")
struct SupportTests {
    @Test("Edit distance counts insertions, deletions, substitutions and neighbour swaps as one typo each")
    func editDistance() {
        #expect(EditDistance.between("", "") == 0)
        #expect(EditDistance.between("", "abc") == 3)
        #expect(EditDistance.between("abc", "") == 3)
        #expect(EditDistance.between("listen", "listen") == 0)
        #expect(EditDistance.between("listn", "listen") == 1)        // insertion
        #expect(EditDistance.between("listeen", "listen") == 1)      // deletion
        #expect(EditDistance.between("lasten", "listen") == 1)       // substitution
        #expect(EditDistance.between("tcp-ehco", "tcp-echo") == 1)   // swap of neighbours
        #expect(EditDistance.between("--confg", "--config") == 1)
        #expect(EditDistance.between("ca", "abc") == 3)              // OSA, not Damerau: no edit of a swapped pair
        #expect(EditDistance.between("é", "e") == 1)                 // Unicode scalars
    }

    @Test("JSON quoting escapes quotes, backslashes and control characters, DEL included")
    func jsonQuoting() {
        #expect(JSONString.quote("") == #""""#)
        #expect(JSONString.quote("echo") == #""echo""#)
        #expect(JSONString.quote("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSONString.quote("\n\t\r") == #""\n\t\r""#)
        #expect(JSONString.quote("\u{0}\u{1f}\u{7f}") == #""\u0000\u001f\u007f""#)
        #expect(JSONString.quote("é ✓ \u{80}") == "\"é ✓ \u{80}\"")
    }

    @Test("Terminal escaping (netrelayctl's received text): the same control characters, Swift-style, quotes kept")
    func terminalEscaping() {
        #expect(TextEscaping.escape("ping\r\n", for: .line) == #"ping\r\n"#)
        #expect(TextEscaping.escape("\u{0}\u{1b}[0m\u{7f}", for: .line) == #"\u{0}\u{1b}[0m\u{7f}"#)
        #expect(TextEscaping.escape(#"say "hi" \o/"#, for: .line) == #"say "hi" \o/"#)
        #expect(TextEscaping.escape("a\tb", for: .json) == #"a\tb"#)
    }

    @Test("Durations: milliseconds under a second, tenths under two minutes, then minutes and seconds")
    func durations() {
        #expect(formatDuration(0) == "0 ms")
        #expect(formatDuration(0.2504) == "250 ms")
        #expect(formatDuration(1) == "1 s")
        #expect(formatDuration(1.5) == "1.5 s")
        #expect(formatDuration(1.96) == "2 s")
        #expect(formatDuration(119.9) == "119.9 s")
        #expect(formatDuration(200) == "3 min 20 s")
    }

    @Test("Seconds and rates print whole numbers without a fraction")
    func seconds() {
        #expect(formatSeconds(30) == "30")
        #expect(formatSeconds(1.5) == "1.5")
        #expect(formatSeconds(0.25) == "0.25")
        #expect(formatSeconds(-2) == "-2")
        #expect(formatSeconds(1e16) == "1e+16")
    }

    @Test("errno text reads like systemd's: lower case, acronyms kept")
    func errno() {
        #expect(errnoDescription(98) == "address already in use")
        #expect(errnoDescription(5) == "input/output error")
    }
}
