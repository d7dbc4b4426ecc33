import Foundation
import Testing

/// Loops between daemons: two netrelayd in two hosts of a namespace lab, each rebroadcasting to
/// the other's port with no rate limit. The relay mark must stop every rebroadcast from being
/// rebroadcast again.
@Suite("Rebroadcast loops across daemons",
       .enabled(if: NetworkLab.unavailableReason == nil, "\(NetworkLab.unavailableReason ?? "")"),
       .serialized)
struct RelayLoopTests {
    func startListener(_ lab: NetworkLab, _ host: Int, port: Int, dir: String, send: (text: String, to: String, port: Int)? = nil, duration: Double) throws -> (output: String, process: Process) {
        let out = "\(dir)/host\(host)-\(port)-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        var args = ["python3", "-c", LabScripts.listen, "\(port)", "\(duration)"]
        if let send { args += [send.text, send.to, "\(send.port)"] }
        let process = try lab.spawn(host, args, output: out)
        try waitUntil(timeout: 10, "client in host \(host) ready") { LabScripts.isReady(out) }
        return (out, process)
    }

    @Test("A <-> B with rateLimit 0: one datagram in each, one rebroadcast from each in 10 s, the echoes dropped and counted")
    func twoDaemonsAimedAtEachOther() throws {
        let lab = try NetworkLab(hosts: 3)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-lab")
        let p = Ports.free(), q = Ports.free()
        let a = try LabDaemon(lab: lab, host: 1, config: configJSON([
            rebroadcaster("A", listen: "0.0.0.0:\(p)", target: "\(lab.broadcastAddress):\(q)", "\"prefix\": \"A:\", \"rateLimit\": 0"),
        ]))
        let b = try LabDaemon(lab: lab, host: 2, config: configJSON([
            rebroadcaster("B", listen: "0.0.0.0:\(q)", target: "\(lab.broadcastAddress):\(p)", "\"prefix\": \"B:\", \"rateLimit\": 0"),
        ]))
        #expect(a.log.contains("relayMark 5") && b.log.contains("relayMark 5"))
        // Host 3 hears both ports; it sends one datagram to A (from port q) and one to B (from port p).
        let onQ = try startListener(lab, 3, port: q, dir: dir, send: ("to-A", lab.address(1), p), duration: 10)
        let onP = try startListener(lab, 3, port: p, dir: dir, send: ("to-B", lab.address(2), q), duration: 10)
        try waitUntil(timeout: 20, "clients to finish") { !onQ.process.isRunning && !onP.process.isRunning }
        // Before the mark: an endless "B:A:...to-A" exchange between the daemons.
        #expect(LabScripts.heard(onQ.output).map(\.text) == ["A:to-A"])
        #expect(LabScripts.heard(onP.output).map(\.text) == ["B:to-B"])
        a.signal(SIGUSR1)
        b.signal(SIGUSR1)
        try a.waitForLog("datagrams in=1, datagrams out=1, dropped=1, dropped in kernel (relay mark or full queue)=1")
        try b.waitForLog("datagrams in=1, datagrams out=1, dropped=1, dropped in kernel (relay mark or full queue)=1")
    }

    @Test("Two responders and one forged datagram (source: the other responder): one reply, not an endless exchange")
    func respondersPingPong() throws {
        let lab = try NetworkLab(hosts: 3)
        defer { lab.destroy() }
        let p = Ports.free(), q = Ports.free()
        let a = try LabDaemon(lab: lab, host: 1, config: configJSON([udpResponder("A", port: p, host: "0.0.0.0", "\"replyPrefix\": \"A:\"")]))
        let b = try LabDaemon(lab: lab, host: 2, config: configJSON([udpResponder("B", port: q, host: "0.0.0.0", "\"replyPrefix\": \"B:\"")]))
        // Host 3 forges B's address and port: A answers B, whose socket drops the marked reply.
        try lab.exec(3, ["python3", "-c", LabScripts.spoof, lab.address(2), "\(q)", lab.address(1), "\(p)", "ping"])
        try waitUntil(timeout: 10, "B to count the dropped reply") {
            b.signal(SIGUSR1)
            Thread.sleep(forTimeInterval: 0.2)
            return b.log.contains("dropped in kernel (relay mark or full queue)=1")
        }
        Thread.sleep(forTimeInterval: 2)
        a.signal(SIGUSR1)
        b.signal(SIGUSR1)
        try a.waitForLog("\"A\" on 0.0.0.0:\(p): datagrams in=1, datagrams out=1 ")
        try b.waitForLog("\"B\" on 0.0.0.0:\(q): dropped=1, dropped in kernel (relay mark or full queue)=1 ")
        #expect(!b.log.contains("datagrams in="))
    }

    @Test("A rebroadcaster aimed at another daemon's responder: the responder drops the marked rebroadcast, nothing comes back")
    func rebroadcasterIntoResponder() throws {
        let lab = try NetworkLab(hosts: 3)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-lab")
        let p = Ports.free(), q = Ports.free()
        let a = try LabDaemon(lab: lab, host: 1, config: configJSON([
            rebroadcaster("A", listen: "0.0.0.0:\(p)", target: "\(lab.broadcastAddress):\(q)", "\"prefix\": \"A:\", \"rateLimit\": 0"),
        ]))
        let b = try LabDaemon(lab: lab, host: 2, config: configJSON([udpResponder("B", port: q, host: "0.0.0.0", "\"replyPrefix\": \"B:\"")]))
        let onQ = try startListener(lab, 3, port: q, dir: dir, send: ("to-A", lab.address(1), p), duration: 3)
        try waitUntil(timeout: 10, "client to finish") { !onQ.process.isRunning }
        #expect(LabScripts.heard(onQ.output).map(\.text) == ["A:to-A"])
        a.signal(SIGUSR1)
        b.signal(SIGUSR1)
        try a.waitForLog("\"A\" on 0.0.0.0:\(p): datagrams in=1, datagrams out=1 ")
        try b.waitForLog("\"B\" on 0.0.0.0:\(q): dropped=1, dropped in kernel (relay mark or full queue)=1 ")
    }

    @Test("relayMark 0 on both turns the mark off: the rebroadcast is rebroadcast again (bounded here by the rate limit)")
    func markOff() throws {
        let lab = try NetworkLab(hosts: 3)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-lab")
        let p = Ports.free(), q = Ports.free()
        _ = try LabDaemon(lab: lab, host: 1, config: configJSON([
            rebroadcaster("A", listen: "0.0.0.0:\(p)", target: "\(lab.broadcastAddress):\(q)", "\"prefix\": \"A:\", \"relayMark\": 0, \"rateLimit\": 1, \"rateLimitBurst\": 2"),
        ]))
        _ = try LabDaemon(lab: lab, host: 2, config: configJSON([
            rebroadcaster("B", listen: "0.0.0.0:\(q)", target: "\(lab.broadcastAddress):\(p)", "\"prefix\": \"B:\", \"relayMark\": 0, \"rateLimit\": 1, \"rateLimitBurst\": 2"),
        ]))
        let onQ = try startListener(lab, 3, port: q, dir: dir, send: ("to-A", lab.address(1), p), duration: 2)
        try waitUntil(timeout: 10, "client to finish") { !onQ.process.isRunning }
        #expect(LabScripts.heard(onQ.output).map(\.text).starts(with: ["A:to-A", "A:B:A:to-A"]))
    }
}

/// What forged sources can extract from a responder, through the binary on loopback.
@Suite("Reflection budget through the daemon", .serialized)
struct ReflectionBudgetIntegrationTests {
    @Test("A 0-byte datagram gets no reply by default and is counted; the next one is answered")
    func emptyDatagram() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"replyPrefix\": \"confirmation message: \"")]))
        defer { daemon.stop() }
        let client = try UDPTestSocket()
        client.send([], to: "127.0.0.1", port: port)
        client.send("x", to: "127.0.0.1", port: port)
        // Loopback keeps the order: the first reply is the one to "x".
        #expect(client.receive()?.text == "confirmation message: x")
        let stats = try daemon.statistics(of: "udp") { $0.contains("datagrams in=2") }
        #expect(stats.contains("datagrams out=1") && stats.contains("dropped empty=1"))
    }

    @Test("replyToEmpty answers a 0-byte datagram with the prefix alone")
    func replyToEmpty() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"replyPrefix\": \"p:\", \"replyToEmpty\": true")]))
        defer { daemon.stop() }
        let client = try UDPTestSocket()
        client.send([], to: "127.0.0.1", port: port)
        #expect(client.receive()?.text == "p:")
    }

    @Test("600 forged loopback sources, each within its own limit, get no more than the total limit allows")
    func forgedSourcesBoundedByTotal() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"totalRateLimit\": 20, \"totalRateLimitBurst\": 100")]))
        defer { daemon.stop() }
        // Distinct 127.3.x.y addresses: 600 sources, each of which would get a burst of 200.
        let sources = try (0..<600).map { try UDPTestSocket(bind: "127.3.\($0 / 250).\($0 % 250 + 1)") }
        let start = Date()
        // Two datagrams per source, 100 at a time so the daemon's receive queue never overflows.
        for round in 0..<12 {
            for s in sources[(round % 6) * 100..<(round % 6 + 1) * 100] { s.send("forged", to: "127.0.0.1", port: port) }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let stats = try daemon.statistics(of: "udp") { $0.contains("datagrams in=1200") }
        let elapsed = Date().timeIntervalSince(start)
        // Loopback delivers a reply before sendmmsg returns: all of them are queued by now.
        var replies = 0
        for s in sources { while s.receive(timeout: 0) != nil { replies += 1 } }
        // The burst, plus 20/s for as long as the datagrams kept coming (at most `elapsed`).
        #expect(replies >= 100)
        #expect(Double(replies) <= 100 + 20 * elapsed + 1)
        #expect(stats.contains("datagrams out=\(replies)"))
        #expect(stats.contains("dropped by total rate limit=\(1200 - replies)"))
    }
}
