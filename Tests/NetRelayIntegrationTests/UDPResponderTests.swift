import Foundation
import Testing

/// The udp-responder through the real binary on loopback.
@Suite("UDP responder on loopback")
struct UDPResponderTests {
    @Test("Answers the sender with the prefix, as the classic dgram server does")
    func classicReply() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"replyPrefix\": \"confirmation message\"")]))
        defer { daemon.stop() }
        let client = try UDPTestSocket()
        client.send("hello", to: "127.0.0.1", port: port)
        let reply = try #require(client.receive())
        #expect(reply.text == "confirmation messagehello")
        #expect(reply.host == "127.0.0.1" && reply.port == port)
        try daemon.notify.wait("STATUS with the datagram counted") { $0.contains("udp 1 in, 1 out") }
    }

    @Test("IPv6 on ::1")
    func ipv6() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, host: "::1", "\"replyPrefix\": \"v6:\"")]))
        defer { daemon.stop() }
        let client = try UDPTestSocket(bind: "::1")
        client.send("hi", to: "::1", port: port)
        let reply = try #require(client.receive())
        #expect(reply.text == "v6:hi")
        #expect(reply.host == "::1" && reply.port == port)
    }

    @Test("Many clients at once each get their own replies")
    func manyClients() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"rateLimit\": 0")]))
        defer { daemon.stop() }
        let clients = try (0..<20).map { _ in try UDPTestSocket() }
        for (i, c) in clients.enumerated() {
            for j in 0..<10 { c.send("c\(i)-\(j)", to: "127.0.0.1", port: port) }
        }
        for (i, c) in clients.enumerated() {
            let got = c.receiveUntilQuiet(quiet: 1).map(\.text)
            #expect(Set(got) == Set((0..<10).map { "c\(i)-\($0)" }))
        }
    }

    @Test("A burst over the rate limit is cut to the burst size, and the source recovers after waiting")
    func rateLimit() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"rateLimit\": 5, \"rateLimitBurst\": 10")]))
        defer { daemon.stop() }
        let client = try UDPTestSocket()
        for i in 0..<100 { client.send("m\(i)", to: "127.0.0.1", port: port) }
        let replies = client.receiveUntilQuiet(quiet: 1).count
        // The burst is answered; most of the rest is not (the bucket refills at 5/s while we send).
        #expect(replies >= 10 && replies < 60)
        let stats = try daemon.statistics(of: "udp") { $0.contains("datagrams in=100") }
        #expect(stats.contains("dropped by rate limit=\(100 - replies)") && stats.contains("dropped=\(100 - replies)"))
        try daemon.notify.wait("STATUS with the drops") { $0.contains("udp 100 in, \(replies) out, \(100 - replies) dropped") }
        // A summary line, not a line per drop.
        #expect(daemon.log.components(separatedBy: "over the rate limit").count - 1 <= 2)
        // After a pause the bucket has refilled (5/s): the source is answered again.
        Thread.sleep(forTimeInterval: 1.5)
        client.send("again", to: "127.0.0.1", port: port)
        #expect(client.receive()?.text == "again")
    }

    @Test("Datagrams over maxDatagramSize are dropped and counted, with vector reads and without", arguments: [32, 1])
    func oversize(vectorReadCount: Int) throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"maxDatagramSize\": 100, \"vectorReadCount\": \(vectorReadCount)")]))
        defer { daemon.stop() }
        let client = try UDPTestSocket()
        // 101 fits the receive slice (maxDatagramSize + 1); 5000 and 65507 are cut by the kernel to the slice.
        for size in [101, 5000, 65507] {
            #expect(client.send([UInt8](repeating: 65, count: size), to: "127.0.0.1", port: port) == 0)
        }
        client.send([UInt8](repeating: 66, count: 100), to: "127.0.0.1", port: port)
        let got = client.receiveUntilQuiet(quiet: 1)
        #expect(got.map(\.bytes) == [100])
        let stats = try daemon.statistics(of: "udp") { $0.contains("datagrams in=4") }
        #expect(stats.contains("dropped oversize=3"))
        #expect(stats.contains("datagrams out=1"))
        #expect(daemon.log.contains("larger than maxDatagramSize (100 bytes)"))
    }

    @Test("A loopback client on a privileged port is answered (local use keeps working)")
    func loopbackPrivilegedPort() throws {
        guard geteuid() == 0 else { return }
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port)]))
        defer { daemon.stop() }
        var client: UDPTestSocket?
        for p in 600..<1000 where client == nil { client = try? UDPTestSocket(port: p) }
        let c = try #require(client)
        c.send("root", to: "127.0.0.1", port: port)
        #expect(c.receive()?.text == "root")
    }

    @Test("A reload changes the prefix in place: the socket is never closed")
    func reloadInPlace() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"replyPrefix\": \"v1:\"")]))
        defer { daemon.stop() }
        let client = try UDPTestSocket()
        client.send("a", to: "127.0.0.1", port: port)
        #expect(client.receive()?.text == "v1:a")
        let mark = try daemon.reload(with: configJSON([udpResponder(port: port, "\"replyPrefix\": \"v2:\", \"maxDatagramSize\": 4000, \"vectorReadCount\": 8")]))
        let ready = try daemon.waitReady(after: mark)
        #expect(NotifySocket.value("STATUS", in: ready)?.contains("reload 1 ok (0 added, 1 changed, 0 removed, 0 unchanged)") == true)
        client.send("b", to: "127.0.0.1", port: port)
        #expect(client.receive()?.text == "v2:b")
        #expect(daemon.log.contains("Updated udp-responder \"udp\" on 127.0.0.1:\(port) in place"))
        // The new maxDatagramSize applies to the receive buffers too.
        client.send([UInt8](repeating: 67, count: 3000), to: "127.0.0.1", port: port)
        #expect(client.receive()?.bytes == 3003)
    }

    @Test("Another process on the port is a start error, not a silent share")
    func portTaken() throws {
        let port = Ports.free()
        let squatter = try UDPTestSocket(port: port)
        _ = squatter
        let daemon = try DaemonProcess(config: configJSON([udpResponder(port: port)]))
        try daemon.start()
        defer { daemon.stop() }
        #expect(daemon.waitForExit() != 0)
        try daemon.notify.wait("the failure in STATUS") { $0.contains("Failed to bind udp-responder \"udp\" to 127.0.0.1:\(port): address already in use") }
    }
}
