import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// The helpers every layer shares (Sources/NetRelayConfig/Support): their exact output, since
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
        #expect(JSONString.quote("é ✓ \u{80}") == #""é ✓ \u0080""#)
        #expect(JSONString.quote("rlo\u{202e}x\u{2066}\u{2028}") == #""rlo\u202ex\u2066\u2028""#)
    }

    @Test("One escaping rule for text that leaves the process: C0, DEL, C1, separators, bidi controls; quotes and backslashes kept in a line")
    func lineEscaping() {
        #expect(TextEscaping.escape("ping\r\n", for: .line) == #"ping\r\n"#)
        #expect(TextEscaping.escape("\u{0}\u{1b}[0m\u{7f}", for: .line) == #"\u{0}\u{1b}[0m\u{7f}"#)
        #expect(TextEscaping.escape(#"say "hi" \o/"#, for: .line) == #"say "hi" \o/"#)
        #expect(TextEscaping.escape("a\tb", for: .json) == #"a\tb"#)
        #expect(TextEscaping.escape("c1 \u{85}\u{9b}6n", for: .line) == #"c1 \u{85}\u{9b}6n"#)
        #expect(TextEscaping.escape("\u{61c}\u{200e}\u{200f}\u{202a}\u{202e}\u{2066}\u{2069}\u{2028}\u{2029}", for: .line)
            == #"\u{61c}\u{200e}\u{200f}\u{202a}\u{202e}\u{2066}\u{2069}\u{2028}\u{2029}"#)
        // Untouched: other non-ASCII text (lead bytes C2, D8, E2 that start no unsafe character).
        for plain in ["é ✓ ü ß", "\u{a0}x", "\u{600}\u{2030}‰ — “q”", "日本語", "echo"] {
            #expect(TextEscaping.escape(plain, for: .line) == plain, "\(plain.debugDescription)")
        }
        // Escaping escaped text changes nothing: each exit may apply the rule again.
        let once = TextEscaping.escape("a\nb\u{1b}\u{202e}", for: .line)
        #expect(TextEscaping.escape(once, for: .line) == once)
        #expect(TextEscaping.isUnsafe("\u{9f}") && !TextEscaping.isUnsafe("\u{a0}") && TextEscaping.isUnsafe("\u{2069}") && !TextEscaping.isUnsafe("\u{206a}"))
    }

    @Test("Bytes that are not UTF-8 become \\xHH; valid sequences around them stay")
    func invalidUTF8() {
        #expect(TextEscaping.fromBytes(Array("eth0".utf8)) == "eth0")
        #expect(TextEscaping.fromBytes([0x62, 0xFF, 0xFE, 0x61, 0x64]) == #"b\xFF\xFEad"#)
        #expect(TextEscaping.fromBytes([0xC3, 0xA9, 0xC3]) == #"é\xC3"#)
        #expect(TextEscaping.fromBytes([0xE2, 0x80, 0xAE, 0xED, 0xA0, 0x80]) == "\u{202e}" + #"\xED\xA0\x80"#)
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
