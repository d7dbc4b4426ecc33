import Testing

@Suite("netrelayctl tcp against loopback servers")
struct TCPProbeTests {
    @Test("the classic client: Hello!, Bye, FIN; the server echoes both and closes", arguments: ["127.0.0.1", "::1"])
    func classicClientHalfClose(host: String) async throws {
        let (server, port) = try await LoopbackServers.tcp(.echo(prefix: "Confirm data: "), host: host)
        let target = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let r = try await ctl("tcp", target, "--send", "Hello!", "--send", "Bye", "--interval", "0.2", "--end-after", "0", "--half-close", "--json")
        try await server.close()

        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stderr.isEmpty)
        let names = r.events.compactMap { $0["event"] as? String }
        #expect(names.first == "connected")
        #expect(names.last == "closed")
        #expect(r.events("connected").first?["peer"] as? String == target)
        #expect(r.events("sent").compactMap { $0["text"] as? String } == ["Hello!", "Bye"])
        #expect(r.events("half-closed").count == 1)
        let echoed = r.events("data").compactMap { $0["text"] as? String }.joined()
        #expect(echoed == "Confirm data: Hello!Confirm data: Bye")
        let bytes = r.events("data").compactMap { $0["bytes"] as? Int }.reduce(0, +)
        #expect(bytes == echoed.utf8.count)
        let closed = try #require(r.events("closed").first)
        #expect(closed["by"] as? String == "peer")
        #expect(closed["received"] as? Int == bytes)
    }

    @Test("without --half-close the probe closes after --end-after and says so in text")
    func fullCloseText() async throws {
        let (server, port) = try await LoopbackServers.tcp(.echo(prefix: "> "))
        let r = try await ctl("tcp", "127.0.0.1:\(port)", "--send", "ping", "--end-after", "0.3")
        try await server.close()

        #expect(r.status == 0, "stderr: \(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("connected to 127.0.0.1:\(port) from 127.0.0.1:") == true)
        #expect(lines.contains("sent 4 bytes to 127.0.0.1:\(port): ping"))
        #expect(lines.contains("received 6 bytes: > ping"))
        #expect(lines.last == "closed the connection to 127.0.0.1:\(port) (6 bytes received in all)")
    }

    @Test("a refused connection exits 1 with a one-line reason")
    func refused() async throws {
        let port = Ports.free()
        let r = try await ctl("tcp", "127.0.0.1:\(port)", "--send", "x", "--json")
        #expect(r.status == 1)
        #expect(r.reason == "netrelayctl: connection refused by 127.0.0.1:\(port)")
        #expect(r.events("error").first?["reason"] as? String == "connection refused by 127.0.0.1:\(port)")
    }

    @Test("a server that never closes after our FIN: timeout, exit 1")
    func halfCloseTimeout() async throws {
        let (server, port) = try await LoopbackServers.tcp(.silent)
        let r = try await ctl("tcp", "127.0.0.1:\(port)", "--end-after", "0", "--half-close", "--timeout", "0.5", "--json")
        try await server.close()

        #expect(r.status == 1)
        #expect(r.reason == "netrelayctl: timed out after 0.5 s waiting for 127.0.0.1:\(port) to close the connection after our FIN")
        let timeout = try #require(r.events("timeout").first)
        #expect(timeout["waitingFor"] as? String == "close")
        #expect(timeout["after"] as? Double == 0.5)
    }

    @Test("a server that sends nothing back: no reply, exit 1")
    func noReply() async throws {
        let (server, port) = try await LoopbackServers.tcp(.silent)
        let r = try await ctl("tcp", "127.0.0.1:\(port)", "--send", "anyone?", "--end-after", "0.2")
        try await server.close()

        #expect(r.status == 1)
        #expect(r.reason == "netrelayctl: no reply from 127.0.0.1:\(port) within 0.2 s after the last --send")
    }

    @Test("a server that accepts and closes at once (over its connection limit): exit 1")
    func closedAtOnce() async throws {
        let (server, port) = try await LoopbackServers.tcp(.closeAtOnce)
        let r = try await ctl("tcp", "127.0.0.1:\(port)", "--end-after", "2", "--json")
        try await server.close()

        #expect(r.status == 1)
        #expect(r.reason.hasPrefix("netrelayctl: 127.0.0.1:\(port) "), "\(r.reason)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }
}
