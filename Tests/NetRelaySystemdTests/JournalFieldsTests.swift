import Logging
import NetRelayConfig
import NetRelayCore
@testable import NetRelaySystemd
import Testing

/// What the journal handler hands sd_journal_sendv: one record, whatever its text holds.
@Suite("journald fields")
struct JournalFieldsTests {
    static let hostile = "a\nforged line (event=ready) \r \u{0} \u{1b}[2J \u{7f} \u{85} \u{9b} \u{202e}evil\u{2066} \u{2028}"

    static func event(_ message: String) -> LogEvent {
        LogEvent(level: .error, message: "\(message)", metadata: nil, source: "test", file: "f.swift", function: "f()", line: 1)
    }

    @Test("MESSAGE= and every metadata field carry no raw control, C1 or bidi character: each is escaped as on stderr")
    func hostileValuesEscaped() {
        let fields = JournalLogHandler.fields(Self.event("unknown key \(Self.hostile)"),
                                              metadata: ["listener": "l1", "config_path": "listeners[0].\(Self.hostile)", "peer\n": "x\u{0}y"],
                                              identifier: "netrelayd")
        for field in fields {
            #expect(!field.unicodeScalars.contains { TextEscaping.isUnsafe($0) }, "\(field.debugDescription)")
        }
        let message = fields.first { $0.hasPrefix("MESSAGE=") }
        #expect(message == #"MESSAGE=unknown key a\nforged line (event=ready) \r \u{0} \u{1b}[2J \u{7f} \u{85} \u{9b} \u{202e}evil\u{2066} \u{2028}"#)
        #expect(fields.contains(#"CONFIG_PATH=listeners[0].a\nforged line (event=ready) \r \u{0} \u{1b}[2J \u{7f} \u{85} \u{9b} \u{202e}evil\u{2066} \u{2028}"#))
        // A field name is upper-case letters, digits and '_' whatever the key was.
        #expect(fields.contains(#"PEER_=x\u{0}y"#))
    }

    @Test("Plain text passes unchanged")
    func plainText() {
        let fields = JournalLogHandler.fields(Self.event("Listening: tcp-echo \"echo\" on 127.0.0.1:2000"), metadata: ["event": "listening"], identifier: "netrelayd")
        #expect(fields.contains("MESSAGE=Listening: tcp-echo \"echo\" on 127.0.0.1:2000"))
        #expect(fields.contains("EVENT=listening"))
        #expect(fields.contains("PRIORITY=3"))
    }
}
