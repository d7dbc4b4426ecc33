import Testing

@Suite("netrelayctl udp against loopback servers")
struct UDPProbeTests {
    @Test("the classic client: the reply and the sender's address", arguments: ["127.0.0.1", "::1"])
    func reply(host: String) async throws {
        let (server, port) = try await LoopbackServers.udp(replyPrefix: "confirmation message", host: host)
        let target = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let r = try await ctl("udp", target, "--send", "Hello", "--json")
        try await server.close()

        #expect(r.status == 0, "stderr: \(r.stderr)")
        let reply = try #require(r.events("reply").first)
        #expect(reply["from"] as? String == target)
        #expect(reply["text"] as? String == "confirmation messageHello")
        #expect(reply["bytes"] as? Int == 25)
        #expect(r.events("sent").first?["to"] as? String == target)
    }

    @Test("--count 3 sends three datagrams and waits for three replies; text output names the sender")
    func count() async throws {
        let (server, port) = try await LoopbackServers.udp(replyPrefix: "ack ")
        let r = try await ctl("udp", "127.0.0.1:\(port)", "--send", "n", "--count", "3")
        try await server.close()

        #expect(r.status == 0, "stderr: \(r.stderr)")
        let replies = r.stdout.split(separator: "\n").filter { $0.hasPrefix("reply from 127.0.0.1:\(port) (5 bytes): ack n") }
        #expect(replies.count == 3, "\(r.stdout)")
    }

    @Test("nothing listening: ICMP port unreachable is a refusal, exit 1")
    func refused() async throws {
        let port = Ports.free()
        let r = try await ctl("udp", "127.0.0.1:\(port)", "--send", "Hello", "--timeout", "10", "--json")
        #expect(r.status == 1)
        #expect(r.reason == "netrelayctl: 127.0.0.1:\(port) refused the datagram: nothing listens on that port (ICMP port unreachable)")
        #expect(r.events("error").count == 1)
        #expect(r.events("timeout").isEmpty)
    }

    @Test("a socket that never answers: timeout, exit 1")
    func timeout() async throws {
        let (server, port) = try await LoopbackServers.udp(replyPrefix: nil)
        let r = try await ctl("udp", "127.0.0.1:\(port)", "--send", "Hello", "--timeout", "0.5", "--json")
        try await server.close()

        #expect(r.status == 1)
        #expect(r.reason == "netrelayctl: timed out after 0.5 s: 0 of 1 replies from 127.0.0.1:\(port)")
        #expect(r.events("timeout").first?["waitingFor"] as? String == "reply")
    }
}
