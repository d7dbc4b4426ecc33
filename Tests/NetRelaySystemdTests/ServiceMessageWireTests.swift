import NetRelayCore
import NetRelaySystemd
import Testing

@Suite("sd_notify wire format of ServiceMessage")
struct ServiceMessageWireTests {
    @Test("Every message renders as the KEY=value lines systemd reads")
    func everyCase() {
        let cases: [(ServiceMessage, String)] = [
            (.ready, "READY=1"),
            (.reloading(monotonicMicroseconds: 1_234_567), "RELOADING=1\nMONOTONIC_USEC=1234567"),
            (.stopping, "STOPPING=1"),
            (.status("Serving 1 listener | tcp 0 open"), "STATUS=Serving 1 listener | tcp 0 open"),
            (.errno(98), "ERRNO=98"),
            (.watchdog, "WATCHDOG=1"),
            (.fdStore(name: "conn/echo/3"), "FDSTORE=1\nFDNAME=conn/echo/3"),
            (.fdStoreRemove(name: "listen/echo"), "FDSTOREREMOVE=1\nFDNAME=listen/echo"),
        ]
        for (message, wire) in cases {
            #expect(ServiceMessageWire.render([message]) == wire, "\(message)")
        }
    }

    @Test("The messages of one notification are joined by newlines, in order, as the daemon sends them")
    func combined() {
        #expect(ServiceMessageWire.render([.ready, .status("Serving 2 listeners")]) == "READY=1\nSTATUS=Serving 2 listeners")
        #expect(ServiceMessageWire.render([.stopping, .status("Shutting down")]) == "STOPPING=1\nSTATUS=Shutting down")
        #expect(ServiceMessageWire.render([.status("Failed to start: configuration error: 2 errors"), .errno(22)])
            == "STATUS=Failed to start: configuration error: 2 errors\nERRNO=22")
        #expect(ServiceMessageWire.render([]) == "")
    }

    @Test("STATUS= stays one line of printable text: line breaks, NUL, ESC, C1 and bidi controls are escaped (TextEscaping), as in every log line")
    func statusIsOneLine() {
        #expect(ServiceMessageWire.render([.status("a\nb")]) == #"STATUS=a\nb"#)
        #expect(ServiceMessageWire.render([.status("a\r\nb\rc")]) == #"STATUS=a\r\nb\rc"#)
        #expect(ServiceMessageWire.render([.status("a\u{2028}b")]) == #"STATUS=a\u{2028}b"#)
        #expect(ServiceMessageWire.render([.status("")]) == "STATUS=")
        // A status cannot smuggle in another assignment, nor make systemd drop the datagram (NUL).
        #expect(ServiceMessageWire.render([.status("x\nREADY=1"), .errno(5)]) == "STATUS=x\\nREADY=1\nERRNO=5")
        #expect(ServiceMessageWire.render([.ready, .status("key \u{0} \u{1b}[2J \u{9b} \u{202e}evil")])
            == #"READY=1"# + "\n" + #"STATUS=key \u{0} \u{1b}[2J \u{9b} \u{202e}evil"#)
    }

    @Test("A STATUS= text longer than 2 KiB is cut (systemd 252 drops a notification over 4 KiB, READY=1 with it)")
    func statusIsCut() {
        let wire = ServiceMessageWire.render([.ready, .status(String(repeating: "é", count: 5000))])
        #expect(wire.hasPrefix("READY=1\nSTATUS=éé"))
        #expect(wire.hasSuffix(" …"))
        #expect(wire.utf8.count <= 2048 + "READY=1\nSTATUS=".utf8.count)
    }

    @Test("reloadingNow() stamps CLOCK_MONOTONIC microseconds, never going back")
    func reloadingNow() throws {
        guard case .reloading(let first) = ServiceMessage.reloadingNow() else { Issue.record("not .reloading"); return }
        guard case .reloading(let second) = ServiceMessage.reloadingNow() else { Issue.record("not .reloading"); return }
        #expect(first > 0)
        #expect(second >= first)
        #expect(ServiceMessageWire.render([.reloading(monotonicMicroseconds: first)]) == "RELOADING=1\nMONOTONIC_USEC=\(first)")
    }
}
