import Testing

@Suite("netrelayctl broadcast against a loopback rebroadcaster")
struct BroadcastProbeTests {
    @Test("the classic broadcast client hears the rebroadcast on 127.255.255.255")
    func hearsBroadcast() async throws {
        let listenPort = Ports.free()
        let (server, serverPort) = try await LoopbackServers.rebroadcaster(targetPort: listenPort, prefix: "Received client data:")
        let r = try await ctl("broadcast", "--bind", "0.0.0.0:\(listenPort)", "--to", "127.0.0.1:\(serverPort)", "--send", "client", "--json")
        try await server.close()

        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.events("listening").first?["local"] as? String == "0.0.0.0:\(listenPort)")
        #expect(r.events("sent").first?["to"] as? String == "127.0.0.1:\(serverPort)")
        let heard = try #require(r.events("broadcast").first)
        #expect(heard["text"] as? String == "Received client data:client")
        #expect(heard["from"] as? String == "127.0.0.1:\(serverPort)")
        #expect(heard["to"] as? String == "127.255.255.255")
    }

    @Test("two probes share the port (SO_REUSEPORT) and each hears the other's broadcast")
    func sharedPort() async throws {
        let listenPort = Ports.free()
        let (server, serverPort) = try await LoopbackServers.rebroadcaster(targetPort: listenPort, prefix: "R:")
        let first = try startCtl("broadcast", "--bind", "0.0.0.0:\(listenPort)", "--to", "127.0.0.1:\(serverPort)",
                                 "--send", "first", "--count", "2", "--timeout", "15", "--json")
        // The second probe starts once the first one is listening, so the first hears both broadcasts.
        let listening = await first.waitForOutput(seconds: 10) { $0.contains("\"event\":\"broadcast\"") }
        #expect(listening)
        let second = try await ctl("broadcast", "--bind", "0.0.0.0:\(listenPort)", "--to", "127.0.0.1:\(serverPort)",
                                   "--send", "second", "--json")
        let r = await first.wait(seconds: 15)
        try await server.close()

        #expect(second.status == 0, "stderr: \(second.stderr)")
        #expect(second.events("broadcast").contains { $0["text"] as? String == "R:second" })
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let texts = Set(r.events("broadcast").compactMap { $0["text"] as? String })
        #expect(texts == ["R:first", "R:second"])
    }

    @Test("no rebroadcaster: timeout, exit 1, with what was heard")
    func timeout() async throws {
        let listenPort = Ports.free()
        let silent = Ports.free()
        let r = try await ctl("broadcast", "--bind", "127.255.255.255:\(listenPort)", "--to", "127.0.0.1:\(silent)",
                              "--send", "x", "--timeout", "0.5")
        #expect(r.status == 1)
        #expect(r.reason == "netrelayctl: timed out after 0.5 s: heard 0 of 1 broadcasts on 127.255.255.255:\(listenPort) after sending to 127.0.0.1:\(silent)")
    }
}
