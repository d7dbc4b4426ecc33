import Foundation
import Testing

/// `eventLoopThreads: 2` through the real binary: a udp-responder binds a SO_REUSEPORT socket per
/// loop and both loops carry the work; a tcp-echo accepts onto both loops and keeps its limits
/// listener-wide; reloads (in place, restart, rollback) keep every socket serving.
@Suite("Every core: eventLoopThreads 2")
struct EveryCoreTests {
    static let twoLoops = "\"eventLoopThreads\": 2"

    /// CPU seconds (utime + stime) of each event-loop thread of `pid`, by thread id.
    static func loopCPU(_ pid: Int32) -> [String: Double] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var out: [String: Double] = [:]
        for tid in tasks {
            guard let stat = SocketQueues.readProcFile("/proc/\(pid)/task/\(tid)/stat"),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            guard stat[stat.index(after: open)..<close].hasPrefix("NIO-ELT") else { continue }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            out[tid] = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        return out
    }

    /// Sockets bound to local `port` in /proc/net/udp (or tcp: only those in LISTEN).
    static func boundSockets(port: Int, tcp: Bool = false) -> Int {
        let file = tcp ? "/proc/net/tcp" : "/proc/net/udp"
        guard let text = SocketQueues.readProcFile(file) else { return -1 }
        return text.split(separator: "\n").dropFirst().filter { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 3, let lp = f[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }) else { return false }
            return lp == port && (!tcp || f[3] == "0A")
        }.count
    }

    /// `rounds` rounds: each of `clients` sends one datagram and waits for its reply. Returns the
    /// replies that came (each within 5 s) and how many were sent.
    static func exchange(_ clients: [UDPTestSocket], port: Int, rounds: Int, expect prefix: String = "") -> (sent: Int, answered: Int) {
        var sent = 0, answered = 0
        for r in 0..<rounds {
            for (i, c) in clients.enumerated() {
                c.send("c\(i)-\(r)", to: "127.0.0.1", port: port)
                sent += 1
            }
            for (i, c) in clients.enumerated() where c.receive()?.text == "\(prefix)c\(i)-\(r)" { answered += 1 }
        }
        return (sent, answered)
    }

    /// `count` clients on as many loopback addresses (127.0.0.1, .2, ...): the daemon steers a
    /// source address to one socket (`SourceSteering`), so only distinct addresses reach both.
    static func clientsOnAddresses(_ count: Int) throws -> [UDPTestSocket] {
        try (1...count).map { try UDPTestSocket(bind: "127.0.0.\($0)") }
    }

    @Test("Two loops, rateLimit 5 and burst 5: one source address on 40 source ports gets the burst once (5 replies), not once per socket")
    func perSourceLimitAcrossSockets() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"rateLimit\": 5, \"rateLimitBurst\": 5, \"totalRateLimit\": 0")],
                                                                 extra: Self.twoLoops))
        defer { daemon.stop() }
        #expect(Self.boundSockets(port: port) == 2)
        #expect(!daemon.log.contains("steering-failed"))
        let clients = try (0..<40).map { _ in try UDPTestSocket() }
        #expect(Set(clients.map(\.localPort)).count == 40)
        for (i, c) in clients.enumerated() { c.send("p\(i)", to: "127.0.0.1", port: port) }
        // Bounded: the first reply within 5 s, then 0.2 s per client.
        var replies = 0
        for (i, c) in clients.enumerated() where c.receive(timeout: i == 0 ? 5 : 0.2) != nil { replies += 1 }
        #expect(replies == 5, "one source, two sockets: \(replies) replies")
    }

    @Test("A udp-responder binds two sockets on its port, answers 64 source addresses, counts each datagram once (statistics, STATUS, /metrics), and both loops work")
    func udpSpread() throws {
        let port = Ports.free(), httpPort = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"rateLimit\": 0, \"totalRateLimit\": 0")],
                                                                 extra: Self.twoLoops + ", " + ObservabilityEndpointTests.http(httpPort)))
        defer { daemon.stop() }
        #expect(Self.boundSockets(port: port) == 2)
        #expect(daemon.log.contains("2 sockets (SO_REUSEPORT, one per event loop)"))
        let clients = try Self.clientsOnAddresses(64)
        let before = Self.loopCPU(daemon.pid)
        #expect(before.count == 2, "two event-loop threads: \(before)")
        var sent = 0
        // Bounded: at most 8 bursts of 64 x 40 exchanges, until each loop has used 30 ms of CPU
        // (clock ticks are 10 ms; an idle loop uses next to none).
        for _ in 0..<8 {
            let (s, answered) = Self.exchange(clients, port: port, rounds: 40)
            #expect(answered == s)
            sent += s
            let after = Self.loopCPU(daemon.pid)
            if before.allSatisfy({ (after[$0.key] ?? 0) - $0.value >= 0.03 }) { break }
        }
        let after = Self.loopCPU(daemon.pid)
        for (tid, cpu) in before {
            #expect((after[tid] ?? 0) - cpu >= 0.03, "loop thread \(tid) did no work: \(before) -> \(after)")
        }
        try daemon.statistics(of: "udp") { $0.contains("datagrams in=\(sent),") || $0.hasSuffix("datagrams in=\(sent)") }
        try daemon.notify.wait("STATUS with every datagram counted once") { $0.contains("udp \(sent) in, \(sent) out") }
        let metrics = try ObservabilityEndpointTests.metrics(httpPort)
        let u = "listener=\"udp\",kind=\"udp-responder\""
        #expect(sample(metrics, "netrelayd_datagrams_received_total{\(u)}") == Double(sent))
        #expect(sample(metrics, "netrelayd_datagrams_sent_total{\(u)}") == Double(sent))
    }

    @Test("A tcp-echo with maxConnections 4 on two loops refuses the fifth, and admits one again when any of the four leaves")
    func tcpLimitAcrossLoops() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"maxConnections\": 4")], extra: Self.twoLoops))
        defer { daemon.stop() }
        #expect(Self.boundSockets(port: port, tcp: true) == 1, "one listening socket; NIO spreads the connections")
        let four = try (0..<4).map { _ in try TCPClient(port: port) }
        for (i, c) in four.enumerated() {
            try c.send("m\(i)")
            #expect(try c.receiveText(2) == "m\(i)")
        }
        let fifth = try TCPClient(port: port)
        #expect(fifth.waitForEnd() != .timeout)
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("refused over maxConnections=1")
        // Connections alternate between the loops: those on the second loop are released too.
        var admitted: [TCPClient] = []
        for leaving in [four[1], four[2]] {
            leaving.close()
            try waitUntil("a new client admitted after one left") {
                guard let d = try? TCPClient(port: port, timeout: 2) else { return false }
                try d.send("d")
                guard (try? d.receiveText(1)) == "d" else { return false }
                admitted.append(d)
                return true
            }
        }
        #expect(admitted.count == 2)
        try daemon.notify.wait("STATUS with 4 open, 6 accepted") { $0.contains("tcp 4 open, 6 accepted") }
    }

    @Test("Reloads with two loops: in place every socket gets the new prefix; a restart moves both sockets; a failed one rolls back to both")
    func reloads() throws {
        let port = Ports.free(), moved = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([udpResponder(port: port, "\"rateLimit\": 0, \"replyPrefix\": \"v1:\"")], extra: Self.twoLoops))
        defer { daemon.stop() }
        let clients = try Self.clientsOnAddresses(32)
        #expect(Self.exchange(clients, port: port, rounds: 2, expect: "v1:").answered == 64)

        var mark = try daemon.reload(with: configJSON([udpResponder(port: port, "\"rateLimit\": 0, \"replyPrefix\": \"v2:\"")], extra: Self.twoLoops))
        _ = try daemon.waitReady(after: mark)
        // 32 source addresses land on both sockets: every one of them answers with the new prefix.
        #expect(Self.exchange(clients, port: port, rounds: 2, expect: "v2:").answered == 64)
        #expect(Self.boundSockets(port: port) == 2)

        mark = try daemon.reload(with: configJSON([udpResponder(port: moved, "\"rateLimit\": 0, \"replyPrefix\": \"v3:\"")], extra: Self.twoLoops))
        _ = try daemon.waitReady(after: mark)
        #expect(Self.boundSockets(port: port) == 0 && Self.boundSockets(port: moved) == 2)
        #expect(Self.exchange(clients, port: moved, rounds: 2, expect: "v3:").answered == 64)

        // A port another process holds (without SO_REUSEPORT): the start fails, the old spec comes back on both loops.
        let squatter = try UDPTestSocket(port: port)
        mark = try daemon.reload(with: configJSON([udpResponder(port: port, "\"rateLimit\": 0, \"replyPrefix\": \"v4:\"")], extra: Self.twoLoops))
        _ = try daemon.waitReady(after: mark)
        _ = squatter
        #expect(Self.boundSockets(port: moved) == 2)
        #expect(Self.exchange(clients, port: moved, rounds: 2, expect: "v3:").answered == 64)
    }

    @Test("A rebroadcaster keeps one socket with two loops: a broadcast to its port is heard, and relayed, once")
    func rebroadcasterOneSocket() throws {
        let port = Ports.free(), targetPort = Ports.free()
        // Bound to 0.0.0.0, so a broadcast to 127.255.255.255 reaches it; with two sockets in a
        // SO_REUSEPORT group the kernel would hand that broadcast to both.
        let daemon = try DaemonProcess.launch(config: configJSON([
            rebroadcaster(listen: "0.0.0.0:\(port)", target: "127.255.255.255:\(targetPort)", "\"prefix\": \"R:\""),
        ], extra: Self.twoLoops))
        defer { daemon.stop() }
        #expect(Self.boundSockets(port: port) == 1)
        let receiver = try UDPTestSocket(bind: "0.0.0.0", port: targetPort)
        let client = try UDPTestSocket(broadcast: true)
        client.send("b", to: "127.255.255.255", port: port)
        #expect(receiver.receiveUntilQuiet(quiet: 1).map(\.text) == ["R:b"])
        try daemon.statistics(of: "bcast") { $0.contains("datagrams in=1,") && $0.contains("datagrams out=1") }
    }
}
