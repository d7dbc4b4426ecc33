import Foundation
import Testing

/// The tcp-echo listener through the real binary on loopback.
@Suite("TCP echo")
struct TCPEchoTests {
    @Test("Pure echo (RFC 862) returns every byte in order")
    func pureEcho() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port)]))
        defer { daemon.stop() }
        let client = try TCPClient(port: port)
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try client.send(payload)
        #expect(try client.receive(exactly: payload.count) == payload)
    }

    @Test("The classic prefix: each chunk answered as 'Confirm data: ' + data")
    func classicPrefix() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"replyPrefix\": \"Confirm data: \"")]))
        defer { daemon.stop() }
        let client = try TCPClient(port: port)
        try client.send("Hello!")
        #expect(try client.receiveText(20) == "Confirm data: Hello!")
        try client.send("Bye")
        #expect(try client.receiveText(17) == "Confirm data: Bye")
    }

    @Test("IPv6: [::1]", .enabled(if: ipv6LoopbackAvailable(), "::1 is not configured on this machine"))
    func ipv6() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, host: "::1")]))
        defer { daemon.stop() }
        let client = try TCPClient(host: "::1", port: port)
        try client.send("six")
        #expect(try client.receiveText(3) == "six")
        #expect(daemon.log.contains("on [::1]:\(port)"))
    }

    @Test("maxConnections 2: a third client is closed at once while the first two keep echoing; one log line, counted")
    func maxConnections() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"maxConnections\": 2")]))
        defer { daemon.stop() }
        let a = try TCPClient(port: port), b = try TCPClient(port: port)
        try a.send("a1")
        #expect(try a.receiveText(2) == "a1")
        try b.send("b1")
        #expect(try b.receiveText(2) == "b1")

        let c = try TCPClient(port: port)  // accepted by the kernel, then closed by the daemon
        #expect(c.waitForEnd() != .timeout)
        for _ in 0..<5 {
            let extra = try TCPClient(port: port)
            #expect(extra.waitForEnd() != .timeout)
        }
        try a.send("a2")
        #expect(try a.receiveText(2) == "a2")
        try b.send("b2")
        #expect(try b.receiveText(2) == "b2")

        try daemon.waitForLog("Refused connection from 127.0.0.1:")
        #expect(daemon.log.contains(": over maxConnections (2)"))
        // Six refusals, one line: the rest are summarised later, not logged one by one.
        #expect(daemon.log.components(separatedBy: "Refused connection from").count - 1 == 1)
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("refused over maxConnections=6")

        // Once one leaves, a new client gets in.
        a.close()
        try waitUntil("a new client to be admitted after one left") {
            guard let d = try? TCPClient(port: port, timeout: 2) else { return false }
            try d.send("d")
            return (try? d.receiveText(1)) == "d"
        }
    }

    /// Half-close while the daemon holds echo it could not send yet. The client (with a tiny
    /// receive buffer, never reading) writes until the kernel shows that the daemon has stopped
    /// reading from it (unread bytes in the daemon's receive queue: backpressure is on) while
    /// everything the client wrote has been delivered (so its FIN goes out at once). The
    /// daemon then sees the FIN with echo queued, which is what allowHalfOpen decides about.
    private func halfCloseWithQueuedEcho(allowHalfOpen: Bool) throws -> (sent: Int, received: Int, end: TCPClient.ReadEnd) {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"allowHalfOpen\": \(allowHalfOpen)")]), logLevel: "info")
        defer { daemon.stop() }
        let client = try TCPClient(port: port, receiveBuffer: 4096)
        let clientPort = SocketQueues.localPort(client.fd)
        client.setNonBlocking()
        let chunk = [UInt8](repeating: 0x62, count: 16384)
        var sent = 0
        var backpressured = false
        let deadline = Date().addingTimeInterval(30)
        while !backpressured && Date() < deadline && sent < 64 << 20 {
            let n = chunk.withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n }
            // Let the daemon catch up, then look at the queues.
            try waitUntil(timeout: 5, "the client's data to be acknowledged (sent \(sent), daemon queues \(String(describing: SocketQueues.lookup(localPort: port, remotePort: clientPort))))") { SocketQueues.unacknowledged(client.fd) == 0 || n <= 0 }
            Thread.sleep(forTimeInterval: 0.002)
            if let q = SocketQueues.lookup(localPort: port, remotePort: clientPort), q.receive > 0,
               SocketQueues.unacknowledged(client.fd) == 0 {
                // Unread input that stays unread: the daemon has stopped reading.
                Thread.sleep(forTimeInterval: 0.1)
                if let again = SocketQueues.lookup(localPort: port, remotePort: clientPort), again.receive >= q.receive {
                    backpressured = true
                }
            }
        }
        #expect(backpressured, "the daemon never stopped reading from a client that does not read")
        client.shutdownWrite()
        // The daemon drains its receive queue when the FIN arrives; wait for that.
        try waitUntil(timeout: 10, "the daemon to read up to the FIN") {
            (SocketQueues.lookup(localPort: port, remotePort: clientPort)?.receive ?? 0) == 0
        }
        let flags = fcntl(client.fd, F_GETFL)
        _ = fcntl(client.fd, F_SETFL, flags & ~O_NONBLOCK)
        let (bytes, end) = client.receiveUntilEnd()
        return (sent, bytes.count, end)
    }

    @Test("allowHalfOpen true: after the client's FIN every queued echo arrives, then the server closes")
    func halfOpenEchoesQueued() throws {
        let r = try halfCloseWithQueuedEcho(allowHalfOpen: true)
        #expect(r.sent > 0)
        #expect(r.end == .eof)
        #expect(r.received == r.sent)
    }

    @Test("allowHalfOpen false: the server closes at once on the client's FIN, dropping queued echo")
    func noHalfOpenClosesAtOnce() throws {
        let r = try halfCloseWithQueuedEcho(allowHalfOpen: false)
        #expect(r.sent > 0)
        #expect(r.end != .timeout)
        #expect(r.received < r.sent, "all \(r.sent) bytes came back: the daemon waited for its queue instead of closing")
    }

    @Test("Backpressure: a client writing 256 MiB without reading is stopped, daemon RSS grows < 16 MiB")
    func nonReadingClient() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"idleTimeout\": 0")]), logLevel: "info")
        defer { daemon.stop() }
        // Warm up once so allocator pools exist before the baseline.
        let warm = try TCPClient(port: port)
        try warm.send("warm")
        _ = try warm.receive(exactly: 4)
        warm.close()
        let before = daemon.rssKiB
        let client = try TCPClient(port: port)
        let written = client.writeWithoutReading(total: 256 << 20, stallAfter: 2.0, limit: 60)
        let after = daemon.rssKiB
        print("non-reading client: wrote \(written) of \(256 << 20) bytes before blocking; daemon RSS \(before) KiB -> \(after) KiB (+\(after - before) KiB)")
        #expect(written < 256 << 20, "the daemon kept reading from a client that never reads")
        #expect(after - before < 16 * 1024)
        // The daemon still serves others meanwhile.
        let other = try TCPClient(port: port)
        try other.send("still here")
        #expect(try other.receiveText(10) == "still here")
    }

    @Test("idleTimeout closes a connection that sends nothing")
    func idleTimeout() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"idleTimeout\": 0.3")]))
        defer { daemon.stop() }
        let quiet = try TCPClient(port: port, timeout: 10)
        #expect(quiet.waitForEnd() == .eof)
        try daemon.waitForLog("Closing idle connection")
    }

    @Test("maxConnectionsPerSource limits one source, not the others")
    func perSourceLimit() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"maxConnectionsPerSource\": 1")]))
        defer { daemon.stop() }
        let first = try TCPClient(port: port, source: "127.0.0.1")
        try first.send("1")
        #expect(try first.receiveText(1) == "1")
        let second = try TCPClient(port: port, source: "127.0.0.1")
        #expect(second.waitForEnd() != .timeout)
        let other = try TCPClient(port: port, source: "127.0.0.2")
        try other.send("2")
        #expect(try other.receiveText(1) == "2")
        try daemon.waitForLog("over maxConnectionsPerSource (1)")
    }

    @Test("deny/allow lists are checked at accept; a denied source is refused and logged")
    func denyAndAllow() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([
            tcpEcho(port: port, "\"allow\": [\"127.0.0.0/8\"], \"deny\": [\"127.0.0.2\"]"),
        ]))
        defer { daemon.stop() }
        let denied = try TCPClient(port: port, source: "127.0.0.2")
        #expect(denied.waitForEnd() != .timeout)
        try daemon.waitForLog("Refused connection from 127.0.0.2:")
        #expect(daemon.log.contains("source not permitted by allow/deny"))
        let allowed = try TCPClient(port: port, source: "127.0.0.3")
        try allowed.send("ok")
        #expect(try allowed.receiveText(2) == "ok")
    }

    @Test("reusePort lets two daemons share a port")
    func reusePort() throws {
        let port = Ports.free()
        let one = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"reusePort\": true")]))
        defer { one.stop() }
        let two = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"reusePort\": true")]))
        defer { two.stop() }
        for i in 0..<20 {
            let c = try TCPClient(port: port)
            try c.send("r\(i)")
            #expect(try c.receiveText("r\(i)".utf8.count) == "r\(i)")
        }
    }

    @Test("1,000 sequential connections each echo correctly")
    func sequentialConnections() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"replyPrefix\": \">\"")]), logLevel: "info")
        defer { daemon.stop() }
        for i in 0..<1000 {
            let c = try TCPClient(port: port)
            let msg = "message \(i)"
            try c.send(msg)
            let reply = try c.receiveText(msg.utf8.count + 1)
            if reply != ">" + msg {
                Issue.record("connection \(i): got \(reply.debugDescription)")
                return
            }
            c.close()
        }
    }

    @Test("200 concurrent connections each echo 1 MiB, checked byte for byte")
    func concurrentMegabytes() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"maxConnections\": 1000")]), logLevel: "info")
        defer { daemon.stop() }
        let result = try ConcurrentEcho.run(port: port, connections: 200, bytesEach: 1 << 20, timeout: 120)
        #expect(result.mismatches == 0)
        #expect(result.completed == 200)
    }
}

func ipv6LoopbackAvailable() -> Bool {
    let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in6()
    addr.sin6_family = sa_family_t(AF_INET6)
    inet_pton(AF_INET6, "::1", &addr.sin6_addr)
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 }
    }
}
