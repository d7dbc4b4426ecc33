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

    @Test("STATUS= stays one line: line breaks become single spaces, empty lines and edge breaks go")
    func statusIsOneLine() {
        #expect(ServiceMessageWire.render([.status("a\nb")]) == "STATUS=a b")
        #expect(ServiceMessageWire.render([.status("a\r\nb\rc")]) == "STATUS=a b c")
        #expect(ServiceMessageWire.render([.status("\na\n\n\nb\n")]) == "STATUS=a b")
        #expect(ServiceMessageWire.render([.status("a\u{2028}b")]) == "STATUS=a b")
        #expect(ServiceMessageWire.render([.status("")]) == "STATUS=")
        // A status cannot smuggle in another assignment.
        #expect(ServiceMessageWire.render([.status("x\nREADY=1"), .errno(5)]) == "STATUS=x READY=1\nERRNO=5")
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
