import Foundation
import Testing

/// The HTTP endpoint through the real binary: exact counts after traffic, readiness, reloads,
/// bad requests, `netrelayctl status`, and a real Prometheus scraping it.
@Suite("Observability endpoint")
struct ObservabilityEndpointTests {
    static func http(_ port: Int) -> String { "\"http\": {\"listen\": \"127.0.0.1:\(port)\"}" }

    static func metrics(_ port: Int) throws -> String {
        let r = try HTTPTestClient.get(port: port, "/metrics")
        guard r.status == 200 else { throw TestFailure("/metrics answered \(r.status): \(r.body)") }
        return r.body
    }

    /// Waits until /metrics shows every series with its value (UDP counters are added per batch).
    @discardableResult
    static func waitForMetrics(_ port: Int, _ expected: [String: Double], timeout: Double = 10) throws -> String {
        var last = ""
        do {
            try waitUntil(timeout: timeout, "the series \(expected)") {
                last = try metrics(port)
                return expected.allSatisfy { sample(last, $0.key) == $0.value }
            }
        } catch {
            throw TestFailure("\(error)\n--- /metrics ---\n\(last)")
        }
        return last
    }

    @Test("After traffic through tcp-echo, udp-responder and broadcast-rebroadcaster, /metrics shows the exact counts")
    func exactCountsAfterTraffic() throws {
        let httpPort = Ports.free(), tcpPort = Ports.free(), udpPort = Ports.free(), bcastPort = Ports.free(), targetPort = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([
            tcpEcho(port: tcpPort, "\"replyPrefix\": \"> \""),
            udpResponder(port: udpPort, "\"replyPrefix\": \"r:\""),
            rebroadcaster(listen: "127.0.0.1:\(bcastPort)", target: "127.255.255.255:\(targetPort)", "\"prefix\": \"b:\""),
        ], extra: Self.http(httpPort)))
        defer { daemon.stop() }

        for text in ["hello", "world!"] {
            let c = try TCPClient(port: tcpPort)
            try c.send(text)
            #expect(try c.receiveText(text.count + 2) == "> " + text)
            c.close()
        }
        let open = try TCPClient(port: tcpPort)
        try open.send("x")
        _ = try open.receive(exactly: 3)

        let udp = try UDPTestSocket()
        for i in 0..<3 {
            udp.send("ping\(i)", to: "127.0.0.1", port: udpPort)
            #expect(udp.receive()?.text == "r:ping\(i)")
        }
        let receiver = try UDPTestSocket(bind: "0.0.0.0", port: targetPort)
        let sender = try UDPTestSocket()
        for _ in 0..<2 {
            sender.send("hi", to: "127.0.0.1", port: bcastPort)
            #expect(receiver.receive()?.text == "b:hi")
        }

        let tcp = "listener=\"echo\",kind=\"tcp-echo\""
        let u = "listener=\"udp\",kind=\"udp-responder\""
        let b = "listener=\"bcast\",kind=\"broadcast-rebroadcaster\""
        let text = try Self.waitForMetrics(httpPort, [
            "netrelayd_listener_up{\(tcp)}": 1, "netrelayd_listener_up{\(u)}": 1, "netrelayd_listener_up{\(b)}": 1,
            "netrelayd_connections_accepted_total{\(tcp)}": 3,
            "netrelayd_connections_open{\(tcp)}": 1,
            "netrelayd_received_bytes_total{\(tcp)}": 12,
            "netrelayd_sent_bytes_total{\(tcp)}": 18,
            "netrelayd_connections_refused_total{\(tcp),reason=\"over_limit\"}": 0,
            "netrelayd_datagrams_received_total{\(u)}": 3,
            "netrelayd_datagrams_sent_total{\(u)}": 3,
            "netrelayd_datagrams_dropped_total{\(u),reason=\"rate_limit\"}": 0,
            "netrelayd_datagrams_received_total{\(b)}": 2,
            "netrelayd_datagrams_sent_total{\(b)}": 2,
            "netrelayd_config_last_reload_successful": 1,
            "netrelayd_config_reloads_total{result=\"success\"}": 0,
        ])
        #expect(text.contains("netrelayd_build_info{version=\""))
        #expect((sample(text, "process_open_fds") ?? 0) > 3)
        #expect((sample(text, "process_max_fds") ?? 0) > 0)
        #expect((sample(text, "process_resident_memory_bytes") ?? 0) > 1_000_000)
        #expect((sample(text, "netrelayd_event_loop_lateness_seconds_count") ?? -1) >= 0)
        // Nothing per peer: no label but listener, kind, reason, result, version, le (and target:
        // a rebroadcaster's configured targets, not its peers).
        let labels = Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.flatMap { line -> [String] in
            guard let open = line.firstIndex(of: "{"), let close = line.firstIndex(of: "}") else { return [] }
            return line[line.index(after: open)..<close].split(separator: ",").map { String($0.split(separator: "=")[0]) }
        })
        #expect(labels.isSubset(of: ["listener", "kind", "reason", "result", "version", "le", "target"]), "\(labels)")

        // The same facts, structured.
        let status = try HTTPTestClient.get(port: httpPort, "/status.json")
        #expect(status.status == 200)
        #expect(status.head.contains("Content-Type: application/json"))
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any])
        #expect(doc["ready"] as? Bool == true)
        let listeners = try #require(doc["listeners"] as? [[String: Any]])
        #expect(listeners.map { $0["name"] as? String } == ["echo", "udp", "bcast"])
        #expect((listeners[0]["counters"] as? [String: Int])?["connectionsAccepted"] == 3)
        #expect(listeners[0]["address"] as? String == "127.0.0.1:\(tcpPort)")
        #expect(listeners[0]["state"] as? String == "up")

        // promtool accepts the exposition.
        if let promtool = Prometheus.tool("promtool") {
            let check = try Prometheus.run(promtool, ["check", "metrics"], stdin: text)
            #expect(check.status == 0, "promtool check metrics: \(check.output)")
        } else {
            Issue.record("promtool is not installed; scripts/test installs the Debian package prometheus")
        }
    }

    @Test("A multicast announcer's counts and lateness histogram (inside a namespace with only lo)",
          .enabled(if: LoopbackNamespace.unavailableReason == nil, "\(LoopbackNamespace.unavailableReason ?? "")"))
    func multicastMetrics() throws {
        let ns = try LoopbackNamespace()
        defer { ns.destroy() }
        let httpPort = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([
            multicastAnnouncer("clock", group: testGroup(), port: Ports.free(), "\"interval\": 0.05, \"interface\": \"lo\""),
        ], extra: Self.http(httpPort)), namespace: ns.name)
        defer { daemon.stop() }
        let labels = "listener=\"clock\",kind=\"multicast-announcer\""
        // The test's sockets live outside the namespace: fetch from inside it.
        let fetch = ["python3", "-c", "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:\(httpPort)/metrics', timeout=5).read().decode())"]
        var text = ""
        try waitUntil(timeout: 10, interval: 0.2, "10 announcements in /metrics") {
            text = (try? ns.exec(fetch)) ?? ""
            return (sample(text, "netrelayd_announcements_total{\(labels)}") ?? 0) >= 10
        }
        let sent = try #require(sample(text, "netrelayd_announcements_total{\(labels)}"))
        let fired = try #require(sample(text, "netrelayd_announcement_lateness_seconds_count{\(labels)}"))
        // One lateness observation per timer firing; the last send may still be in flight.
        #expect(fired >= sent && fired <= sent + 1)
        #expect(sample(text, "netrelayd_announcement_lateness_seconds_bucket{\(labels),le=\"+Inf\"}") == fired)
        #expect(sample(text, "netrelayd_datagrams_dropped_total{\(labels),reason=\"send_error\"}") == 0)
        #expect(sample(text, "netrelayd_announcements_missed_total{\(labels)}") != nil)
    }

    @Test("/-/ready: 200 once every listener serves, 503 with the reason while one is down; /-/healthy 200")
    func readiness() throws {
        let httpPort = Ports.free(), a = Ports.free(), taken = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho("a", port: a)], extra: Self.http(httpPort)))
        defer { daemon.stop() }
        #expect(try HTTPTestClient.get(port: httpPort, "/-/ready").status == 200)
        // The endpoint was up before the listeners bound (so /-/ready said "starting" meanwhile:
        // the unit test readinessFollowsTheSupervisor checks that answer), and READY=1 came after both.
        let log = daemon.log
        let endpointAt = try #require(log.range(of: "Listening: HTTP endpoint on 127.0.0.1:\(httpPort)"))
        let listenerAt = try #require(log.range(of: "Listening: tcp-echo \"a\""))
        #expect(endpointAt.lowerBound < listenerAt.lowerBound)
        #expect(try HTTPTestClient.get(port: httpPort, "/-/healthy").body == "Healthy\n")
        let landing = try HTTPTestClient.get(port: httpPort, "/")
        #expect(landing.status == 200 && landing.body.contains("href=\"metrics\""))
        #expect(try HTTPTestClient.get(port: httpPort, "/nope").status == 404)
        let head = try HTTPTestClient.get(port: httpPort, "/metrics", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)

        // A listener that cannot bind (another process holds its port) is down: not ready.
        let holder = try UDPTestSocket(port: taken)
        defer { withExtendedLifetime(holder) {} }
        let mark = try daemon.reload(with: configJSON([tcpEcho("a", port: a), udpResponder("b", port: taken)], extra: Self.http(httpPort)))
        try daemon.waitReady(after: mark)
        let notReady = try HTTPTestClient.get(port: httpPort, "/-/ready")
        #expect(notReady.status == 503)
        #expect(notReady.body.hasPrefix("Not ready: listener \"b\" is down: Failed to bind udp-responder \"b\" to 127.0.0.1:\(taken): address already in use"))
        let text = try Self.metrics(httpPort)
        #expect(sample(text, "netrelayd_listener_up{listener=\"b\",kind=\"udp-responder\"}") == 0)
        #expect(sample(text, "netrelayd_config_last_reload_successful") == 0)

        // ctl: not ready is exit 1, with the reason.
        let ctl = try CtlRun(["status", "--url", "http://127.0.0.1:\(httpPort)"])
        #expect(ctl.status == 1)
        #expect(ctl.stdout.contains("NOT READY: listener \"b\" is down"))
        #expect(ctl.stdout.contains("down"))
    }

    @Test("A reload that removes a listener removes its series; a broken reload sets last_reload_successful 0")
    func reloadsAndSeries() throws {
        let httpPort = Ports.free(), a = Ports.free(), b = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho("a", port: a), udpResponder("b", port: b)], extra: Self.http(httpPort)))
        defer { daemon.stop() }
        #expect(try Self.metrics(httpPort).contains("listener=\"b\""))

        var mark = try daemon.reload(with: configJSON([tcpEcho("a", port: a)], extra: Self.http(httpPort)))
        try daemon.waitReady(after: mark)
        var text = try Self.metrics(httpPort)
        #expect(!text.contains("listener=\"b\""))
        #expect(sample(text, "netrelayd_config_reloads_total{result=\"success\"}") == 1)
        #expect(sample(text, "netrelayd_config_last_reload_successful") == 1)
        let okTime = try #require(sample(text, "netrelayd_config_last_reload_timestamp_seconds"))
        #expect(abs(okTime - Date().timeIntervalSince1970) < 60)

        mark = try daemon.reload(with: "{\"listeners\": [")
        try daemon.waitReady(after: mark)
        text = try Self.metrics(httpPort)
        #expect(sample(text, "netrelayd_config_last_reload_successful") == 0)
        #expect(sample(text, "netrelayd_config_reloads_total{result=\"failure\"}") == 1)
        #expect(sample(text, "netrelayd_listener_up{listener=\"a\",kind=\"tcp-echo\"}") == 1)

        // The endpoint moves with a reload, and goes away with its key.
        let moved = Ports.free()
        mark = try daemon.reload(with: configJSON([tcpEcho("a", port: a)], extra: Self.http(moved)))
        try daemon.waitReady(after: mark)
        #expect(try HTTPTestClient.get(port: moved, "/-/ready").status == 200)
        #expect(throws: (any Error).self) { _ = try TCPClient(port: httpPort) }
        mark = try daemon.reload(with: configJSON([tcpEcho("a", port: a)]))
        try daemon.waitReady(after: mark)
        #expect(throws: (any Error).self) { _ = try TCPClient(port: moved) }

        // An endpoint that cannot bind fails the reload (STATUS says why); the listeners are untouched.
        let held = Ports.free()
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(held).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(bound == 0 && listen(holder, 1) == 0)
        mark = try daemon.reload(with: configJSON([tcpEcho("a", port: a)], extra: Self.http(held)))
        let failed = try daemon.waitReady(after: mark)
        #expect(NotifySocket.value("STATUS", in: failed)?.contains("reload 5 FAILED: Failed to bind the HTTP endpoint to 127.0.0.1:\(held): address already in use") == true)
        try daemon.waitForLog("the HTTP endpoint is off until the next reload")
        mark = try daemon.reload(with: configJSON([tcpEcho("a", port: a)], extra: Self.http(httpPort)))
        try daemon.waitReady(after: mark)
        text = try Self.metrics(httpPort)
        #expect(sample(text, "netrelayd_config_reloads_total{result=\"failure\"}") == 2)
        #expect(sample(text, "netrelayd_config_reloads_total{result=\"success\"}") == 4)
        #expect(sample(text, "netrelayd_config_last_reload_successful") == 1)
    }

    @Test("POST, a 1 MB header and a client that never finishes its head are refused; an echo in flight carries on")
    func badRequests() throws {
        let httpPort = Ports.free(), echoPort = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: echoPort)], extra: Self.http(httpPort)))
        defer { daemon.stop() }
        let echo = try TCPClient(port: echoPort)
        func echoWorks(_ text: String) throws {
            try echo.send(text)
            #expect(try echo.receiveText(text.count) == text)
        }
        try echoWorks("before")

        let post = try HTTPTestClient.exchange(port: httpPort, Array("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab".utf8))
        #expect(post.status == 405)
        #expect(post.head.contains("Allow: GET, HEAD"))
        try echoWorks("after post")

        let big = "GET /metrics HTTP/1.1\r\nHost: t\r\nX-Big: " + String(repeating: "a", count: 1 << 20) + "\r\n\r\n"
        let client = try TCPClient(port: httpPort)
        try? client.send(Array(big.utf8))   // the server may close before it has read it all
        let (bytes, end) = client.receiveUntilEnd()
        client.close()
        let refused = try HTTPTestClient.parse(bytes, end: end)
        #expect(refused.status == 431)
        #expect(end != .timeout)
        try echoWorks("after big header")

        // Slowloris: half a request line, then nothing. Cut off after the 10 s request timeout.
        let slow = try TCPClient(port: httpPort, timeout: 30)
        try slow.send("GET /metr")
        let started = Date()
        let slowEnd = slow.waitForEnd()
        #expect(slowEnd == .eof || slowEnd == .reset)
        #expect(Date().timeIntervalSince(started) < 25)
        slow.close()
        try echoWorks("after slow client")

        // At most 16 connections at once; the 17th is closed at accept, and a scrape works again after.
        var held: [TCPClient] = []
        for _ in 0..<16 { held.append(try TCPClient(port: httpPort)) }
        let extra = try TCPClient(port: httpPort, timeout: 5)
        try? extra.send("GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n")
        let extraEnd = extra.receiveUntilEnd()
        #expect(extraEnd.bytes.isEmpty && extraEnd.end != .timeout)
        for c in held { c.close() }
        try waitUntil(timeout: 5, "a scrape after the connections closed") { (try? HTTPTestClient.get(port: httpPort, "/-/healthy").status) == 200 }
        try echoWorks("at the end")
    }

    @Test("A scraper that pipelines requests and never reads its responses is cut off; an echo carries on")
    func nonReadingScraperIsCutOff() throws {
        let httpPort = Ports.free(), echoPort = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: echoPort)], extra: Self.http(httpPort)))
        defer { daemon.stop() }
        let echo = try TCPClient(port: echoPort)
        // A small receive window, then 2,000 pipelined scrapes (~10 MB of responses) never read, in
        // writes of 100 requests (3.6 KB: a request head may take at most 8 KiB, and a read with
        // more than twice that before a response is refused as an oversized head).
        let scraper = try TCPClient(port: httpPort, receiveBuffer: 4096, timeout: 40)
        for _ in 0..<20 {
            try scraper.send(Array(String(repeating: "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", count: 100).utf8))
            Thread.sleep(forTimeInterval: 0.05)
        }
        // Unwritable for 10 s: closed. How soon the daemon fills its buffers depends on how fast
        // it renders (a loaded machine, a debug build), so wait for the close itself: the
        // daemon's side of the connection leaves ESTABLISHED (FIN queued behind unsent data).
        let closed = try waitUntil(timeout: 90, interval: 0.5, "the daemon closing the stalled scraper") {
            try NetworkLab.run(["ss", "-tnH", "state", "established", "( sport = :\(httpPort) )"])
                .split(separator: "\n").isEmpty
        }
        #expect(closed)
        try echo.send("still here")
        #expect(try echo.receiveText(10) == "still here")
        let (bytes, end) = scraper.receiveUntilEnd()
        #expect(end == .eof || end == .reset)
        // Cut off, not served to the end: far fewer than the 2,000 responses arrived (a served
        // pipeline would deliver all of them and then wait in keep-alive).
        let responses = String(decoding: bytes, as: UTF8.self).components(separatedBy: "HTTP/1.1 200 OK").count - 1
        #expect(responses < 1000, "received \(responses) of 2000 responses before the end")
        scraper.close()
        #expect(try HTTPTestClient.get(port: httpPort, "/-/healthy").status == 200)
    }

    @Test("netrelayctl status: a table when ready (exit 0), --json passes /status.json through, exit 2 when unreachable; dropped is the figure of /metrics and STATUS=")
    func ctlStatus() throws {
        let httpPort = Ports.free(), a = Ports.free(), b = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho("a", port: a), udpResponder("b", port: b, "\"rateLimit\": 1, \"rateLimitBurst\": 1")],
                                                                 extra: Self.http(httpPort)))
        defer { daemon.stop() }
        let client = try UDPTestSocket()
        for i in 0..<5 { client.send("m\(i)", to: "127.0.0.1", port: b) }
        let replies = client.receiveUntilQuiet(quiet: 1).count
        try waitUntil(timeout: 5, "datagrams counted") { (try? Self.metrics(httpPort)).flatMap { sample($0, "netrelayd_datagrams_received_total{listener=\"b\",kind=\"udp-responder\"}") } == 5 }
        let metricDrops = try Self.metrics(httpPort).split(separator: "\n")
            .filter { $0.hasPrefix("netrelayd_datagrams_dropped_total{listener=\"b\"") }.compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
        #expect(metricDrops == 5 - replies && metricDrops > 0)
        try daemon.notify.wait("STATUS with the drops") { $0.contains("udp 5 in, \(replies) out, \(metricDrops) dropped") }
        let c = try TCPClient(port: a)
        try c.send("abc")
        _ = try c.receive(exactly: 3)
        let url = "http://127.0.0.1:\(httpPort)"
        try waitUntil(timeout: 5, "bytes counted") { (try? Self.metrics(httpPort)).flatMap { sample($0, "netrelayd_received_bytes_total{listener=\"a\",kind=\"tcp-echo\"}") } == 3 }
        let table = try CtlRun(["status", "--url", url])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("netrelayd ") == true && lines.first?.contains(": ready") == true)
        #expect(lines.dropFirst().first?.hasPrefix("LISTENER  KIND           ADDRESS") == true)
        #expect(lines.contains { $0.hasPrefix("a         tcp-echo       127.0.0.1:\(a)") && $0.contains("up     1     1 accepted, 3 bytes in, 3 bytes out") })
        #expect(lines.contains { $0.hasPrefix("b         udp-responder  127.0.0.1:\(b)") && $0.hasSuffix("5 in, \(replies) out, \(metricDrops) dropped") })
        let json = try CtlRun(["status", "--url", url, "--json"])
        #expect(json.status == 0)
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(document?["ready"] as? Bool == true)
        let listeners = document?["listeners"] as? [[String: Any]] ?? []
        #expect(listeners.first { $0["name"] as? String == "b" }?["dropped"] as? Int == metricDrops)
        let gone = try CtlRun(["status", "--url", "http://127.0.0.1:\(Ports.free())"])
        #expect(gone.status == 2)
        #expect(gone.stderr.hasPrefix("netrelayctl: cannot reach netrelayd at 127.0.0.1:"))
        // No --url: $NETRELAYCTL_STATUS_URL (the container image's health check), else 127.0.0.1:9477.
        let byEnvironment = try CtlRun(["status"], environment: ["NETRELAYCTL_STATUS_URL": url])
        #expect(byEnvironment.status == 0 && byEnvironment.stdout == table.stdout, "\(byEnvironment.stderr)")
        let bad = try CtlRun(["status", "--url", "https://x"])
        #expect(bad.status == 2)
    }

    @Test("A real Prometheus scrapes the endpoint: up == 1 and the accepted count arrive through its API")
    func realPrometheus() throws {
        guard let prometheus = Prometheus.tool("prometheus") else {
            Issue.record("prometheus is not installed; scripts/test installs the Debian package prometheus")
            return
        }
        let httpPort = Ports.free(), echoPort = Ports.free(), promPort = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: echoPort)], extra: Self.http(httpPort)))
        defer { daemon.stop() }
        for _ in 0..<4 {
            let c = try TCPClient(port: echoPort)
            try c.send("p")
            _ = try c.receive(exactly: 1)
            c.close()
        }
        let dir = Paths.makeTempDirectory("netrelayd-prom")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: netrelayd
                static_configs:
                  - targets: ["127.0.0.1:\(httpPort)"]
            rule_files:
              - \(Paths.packageRoot.appendingPathComponent("config/prometheus/netrelayd-alerts.yml").path)

            """.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: prometheus)
        server.arguments = ["--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/data",
                            "--web.listen-address=127.0.0.1:\(promPort)", "--log.level=warn"]
        server.standardInput = FileHandle.nullDevice
        server.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let promLog = dir + "/prometheus.log"
        _ = FileManager.default.createFile(atPath: promLog, contents: nil)
        server.standardError = FileHandle(forWritingAtPath: promLog)
        try server.run()
        defer {
            kill(server.processIdentifier, SIGTERM)
            server.waitUntilExit()
        }

        func query(_ q: String) -> String? {
            let encoded = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q
            guard let r = try? HTTPTestClient.get(port: promPort, "/api/v1/query?query=\(encoded)"), r.status == 200,
                  let json = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any],
                  let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
                  let value = result.first?["value"] as? [Any] else { return nil }
            return value.last as? String
        }
        do {
            try waitUntil(timeout: 60, interval: 0.5, "Prometheus to report up == 1 and 4 accepted connections") {
                query("up{job=\"netrelayd\"}") == "1" && query("netrelayd_connections_accepted_total{listener=\"echo\"}") == "4"
            }
        } catch {
            throw TestFailure("\(error)\n--- prometheus log ---\n\((try? String(contentsOfFile: promLog, encoding: .utf8)) ?? "")")
        }
        #expect(query("netrelayd_listener_up{listener=\"echo\",kind=\"tcp-echo\"}") == "1")
    }

    @Test("promtool accepts the shipped alerting rules")
    func alertRulesAreValid() throws {
        guard let promtool = Prometheus.tool("promtool") else {
            Issue.record("promtool is not installed; scripts/test installs the Debian package prometheus")
            return
        }
        let rules = Paths.packageRoot.appendingPathComponent("config/prometheus/netrelayd-alerts.yml").path
        let check = try Prometheus.run(promtool, ["check", "rules", rules], stdin: "")
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("SUCCESS"))
    }
}

/// netrelayctl as a subprocess (bounded: it has its own --timeout, and is killed after 20 s).
struct CtlRun {
    var status: Int32
    var stdout: String
    var stderr: String

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Paths.netrelayctl)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(20)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        status = p.terminationStatus
    }
}

/// The Debian package's binaries.
enum Prometheus {
    static func tool(_ name: String) -> String? {
        ["/usr/bin/\(name)", "/usr/local/bin/\(name)"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func run(_ tool: String, _ arguments: [String], stdin: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        try p.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }
}
