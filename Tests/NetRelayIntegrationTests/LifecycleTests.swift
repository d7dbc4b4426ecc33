import Foundation
import Testing

/// The systemd contract, through the real binary and a fake NOTIFY_SOCKET.
@Suite("Lifecycle under a fake systemd")
struct LifecycleTests {
    @Test("READY=1 arrives only once the port accepts, with a STATUS summary")
    func readyAfterBind() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess(config: configJSON([tcpEcho(port: port)]))
        try daemon.start()
        defer { daemon.stop() }
        let ready = try daemon.waitReady()
        // The moment READY=1 is readable, a connection must succeed and echo.
        let client = try TCPClient(port: port)
        try client.send("ping")
        #expect(try client.receiveText(4) == "ping")
        let status = try #require(NotifySocket.value("STATUS", in: ready))
        #expect(status.hasPrefix("Serving 1 listener | tcp 0 open, 0 accepted"))
        // Nothing claimed readiness before that message.
        #expect(daemon.notify.messages.prefix { !$0.contains("READY=1") }.allSatisfy { !$0.contains("READY") })
    }

    @Test("STATUS follows the traffic")
    func statusKeptCurrent() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port)], extra: "\"statusInterval\": 0.2"))
        defer { daemon.stop() }
        let client = try TCPClient(port: port)
        try client.send("x")
        _ = try client.receive(exactly: 1)
        try daemon.notify.wait("STATUS with the open connection") { ($0.contains("STATUS=Serving 1 listener | tcp 1 open, 1 accepted")) }
        client.close()
        try daemon.notify.wait("STATUS after the close") { $0.contains("tcp 0 open, 1 accepted") }
    }

    @Test("SIGHUP: RELOADING=1 with MONOTONIC_USEC, the diff applied, then READY=1 naming the result")
    func reloadAppliesDiff() throws {
        let keepPort = Ports.free(), changePort = Ports.free(), removePort = Ports.free(), addPort = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([
            tcpEcho("keep", port: keepPort, "\"replyPrefix\": \"k:\""),
            tcpEcho("change", port: changePort, "\"replyPrefix\": \"old:\""),
            tcpEcho("remove", port: removePort),
        ]))
        defer { daemon.stop() }

        // A connection to the unchanged listener, open across the reload.
        let kept = try TCPClient(port: keepPort)
        try kept.send("a")
        #expect(try kept.receiveText(3) == "k:a")

        let mark = try daemon.reload(with: configJSON([
            tcpEcho("keep", port: keepPort, "\"replyPrefix\": \"k:\""),
            tcpEcho("change", port: changePort, "\"replyPrefix\": \"new:\""),
            tcpEcho("add", port: addPort, "\"replyPrefix\": \"added:\""),
        ]))
        let reloading = try daemon.notify.wait(after: mark, "RELOADING=1") { $0.contains("RELOADING=1") }
        let usec = try #require(NotifySocket.value("MONOTONIC_USEC", in: reloading).flatMap(UInt64.init))
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        #expect(usec > 0 && usec <= UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000)
        let ready = try daemon.waitReady(after: mark)
        let index = daemon.notify.messages.firstIndex(of: ready)!
        #expect(daemon.notify.messages.firstIndex(of: reloading)! < index)
        #expect(NotifySocket.value("STATUS", in: ready)?.contains("reload 1 ok (1 added, 1 changed, 1 removed, 1 unchanged)") == true)

        // The unchanged listener kept its connection.
        try kept.send("b")
        #expect(try kept.receiveText(3) == "k:b")
        // The changed prefix applies to new connections.
        let changed = try TCPClient(port: changePort)
        try changed.send("c")
        #expect(try changed.receiveText(5) == "new:c")
        // The new listener answers; the removed one is gone.
        let added = try TCPClient(port: addPort)
        try added.send("d")
        #expect(try added.receiveText(7) == "added:d")
        #expect(throws: (any Error).self) { _ = try TCPClient(port: removePort) }
    }

    @Test("A broken config on reload changes nothing; STATUS says why; errors are logged")
    func brokenReloadKeepsServing() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"replyPrefix\": \"v1:\"")]))
        defer { daemon.stop() }
        let open = try TCPClient(port: port)
        try open.send("a")
        #expect(try open.receiveText(4) == "v1:a")

        let mark = try daemon.reload(with: """
            {"listeners": [{"name": "echo", "kind": "tcp-echo", "listen": "127.0.0.1:\(port)", "replyPrefix": "v2:", "maxConections": 5}]}
            """)
        let ready = try daemon.waitReady(after: mark)
        let status = try #require(NotifySocket.value("STATUS", in: ready))
        #expect(status.contains("reload 1 FAILED, previous configuration kept"))
        #expect(status.contains("listeners[0].maxConections: unknown key"))
        try daemon.waitForLog("listeners[0].maxConections: unknown key \"maxConections\" in a tcp-echo listener; did you mean \"maxConnections\"?")
        try daemon.waitForLog("Reload 1 failed")

        // Old listener, old prefix, old connection: all still there.
        try open.send("b")
        #expect(try open.receiveText(4) == "v1:b")
        let fresh = try TCPClient(port: port)
        try fresh.send("c")
        #expect(try fresh.receiveText(4) == "v1:c")

        // The next good reload clears the failure.
        let mark2 = try daemon.reload(with: configJSON([tcpEcho(port: port, "\"replyPrefix\": \"v2:\"")]))
        let ready2 = try daemon.waitReady(after: mark2)
        #expect(NotifySocket.value("STATUS", in: ready2)?.contains("reload 2 ok") == true)
    }

    @Test("Reload moving a listener to a port in use: the old one comes back, the rest applies, STATUS says which failed")
    func reloadRestartFailureRollsBack() throws {
        let a = Ports.free(), taken = Ports.free(), other = Ports.free(), otherTaken = Ports.free()
        let blocker = try DaemonProcess.launch(config: configJSON([tcpEcho("x", port: taken), tcpEcho("y", port: otherTaken)]))
        defer { blocker.stop() }
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho("echo", port: a, "\"replyPrefix\": \"a:\""), tcpEcho("other", port: other)]))
        defer { daemon.stop() }
        let mark = try daemon.reload(with: configJSON([
            tcpEcho("echo", port: taken, "\"replyPrefix\": \"b:\""),   // cannot bind: back to port a
            tcpEcho("other", port: other, "\"replyPrefix\": \"o:\""),  // changes in place
            tcpEcho("new", port: otherTaken),                          // cannot bind: not started
        ]))
        let ready = try daemon.waitReady(after: mark)
        let status = try #require(NotifySocket.value("STATUS", in: ready))
        #expect(status.contains("reload 1 FAILED for 2 listener(s): Failed to bind tcp-echo \"echo\" to 127.0.0.1:\(taken): address already in use"))
        try daemon.waitForLog("Failed to bind tcp-echo \"echo\" to 127.0.0.1:\(taken): address already in use; keeping its previous settings")
        try daemon.waitForLog("Failed to bind tcp-echo \"new\" to 127.0.0.1:\(otherTaken): address already in use; not started")
        // "echo" is back on its old port with its old prefix; "other" took its new prefix.
        let c = try TCPClient(port: a)
        try c.send("1")
        #expect(try c.receiveText(3) == "a:1")
        let o = try TCPClient(port: other)
        try o.send("2")
        #expect(try o.receiveText(3) == "o:2")
    }

    @Test("SIGTERM: STOPPING=1, in-flight echo delivered, exit 0")
    func sigtermStops() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port)]))
        let client = try TCPClient(port: port)
        try client.send("last words")
        #expect(try client.receiveText(10) == "last words")
        let mark = daemon.notify.messages.count
        daemon.signal(SIGTERM)
        let stopping = try daemon.notify.wait(after: mark, "STOPPING=1") { $0.contains("STOPPING=1") }
        #expect(NotifySocket.value("STATUS", in: stopping)?.hasPrefix("Shutting down") == true)
        // The open connection is closed by the daemon (FIN), not left hanging.
        #expect(client.waitForEnd() == .eof)
        #expect(daemon.waitForExit() == 0)
        #expect(daemon.log.contains("Stopped"))
    }

    @Test("WATCHDOG_USEC set: WATCHDOG=1 pings arrive")
    func watchdogPings() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port)]), environment: ["WATCHDOG_USEC": "200000"])
        defer { daemon.stop() }
        try waitUntil(timeout: 10, "three WATCHDOG=1 pings") {
            daemon.notify.messages.filter { $0 == "WATCHDOG=1" }.count >= 3
        }
    }

    @Test("No WATCHDOG_USEC: no pings")
    func noWatchdogWithoutRequest() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port)], extra: "\"statusInterval\": 0.1"))
        defer { daemon.stop() }
        // Let several status intervals pass: STATUS updates would come, pings must not.
        let client = try TCPClient(port: port)
        try client.send("x")
        _ = try client.receive(exactly: 1)
        try daemon.notify.wait("a STATUS update") { $0.contains("tcp 1 open") }
        #expect(!daemon.notify.messages.contains("WATCHDOG=1"))
    }

    @Test("Address in use: one clear line, STATUS and ERRNO to systemd, exit 69")
    func addressInUse() throws {
        let port = Ports.free()
        let blocker = try DaemonProcess.launch(config: configJSON([tcpEcho("first", port: port)]))
        defer { blocker.stop() }
        let daemon = try DaemonProcess(config: configJSON([tcpEcho("echo", port: port)]))
        try daemon.start()
        #expect(daemon.waitForExit() == 69)
        let expected = "Failed to bind tcp-echo \"echo\" to 127.0.0.1:\(port): address already in use"
        #expect(daemon.log.contains(expected))
        let failure = try daemon.notify.wait("STATUS with the failure") { $0.contains("STATUS=Failed to start") }
        #expect(NotifySocket.value("STATUS", in: failure) == "Failed to start: " + expected)
        #expect(NotifySocket.value("ERRNO", in: failure) == "\(EADDRINUSE)")
        #expect(!daemon.notify.messages.contains { $0.contains("READY=1") })
    }

    @Test("Permission denied (a privileged port without CAP_NET_BIND_SERVICE): clear line, ERRNO, exit 69",
          .enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root and setpriv to drop to an unprivileged user"))
    func permissionDenied() throws {
        let daemon = try DaemonProcess(config: configJSON([tcpEcho("low", port: 7)]), asUser: "nobody")
        try daemon.start()
        #expect(daemon.waitForExit() == 69)
        let expected = "Failed to bind tcp-echo \"low\" to 127.0.0.1:7: permission denied"
        #expect(daemon.log.contains(expected), "log: \(daemon.log)")
        let failure = try daemon.notify.wait("STATUS with the failure") { $0.contains("STATUS=Failed to start") }
        #expect(NotifySocket.value("STATUS", in: failure) == "Failed to start: " + expected)
        #expect(NotifySocket.value("ERRNO", in: failure) == "\(EACCES)")
    }

    @Test("As an unprivileged user (what DynamicUser= gives) it serves: no option needs privileges",
          .enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root and setpriv to drop to an unprivileged user"))
    func unprivilegedServes() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess(config: configJSON([tcpEcho(port: port)]), asUser: "nobody")
        try daemon.start()
        defer { daemon.stop() }
        try daemon.waitReady()
        for i in 0..<3 {
            let client = try TCPClient(port: port)
            try client.send("as nobody \(i)")
            #expect(try client.receiveText(11) == "as nobody \(i)")
        }
    }

    @Test("With stderr connected to the journal (JOURNAL_STREAM), logging goes through sd_journal_sendv and the daemon runs")
    func journalLogging() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess(config: configJSON([tcpEcho(port: port)]), stderrIsJournal: true)
        try daemon.start()
        defer { daemon.stop() }
        try daemon.waitReady()
        let client = try TCPClient(port: port)
        try client.send("journal")
        #expect(try client.receiveText(7) == "journal")
        daemon.signal(SIGUSR1)
        client.close()
        daemon.stop()
        #expect(daemon.waitForExit() == 0)
        // The lines went to the journal (or nowhere, without journald), not to stderr.
        #expect(!daemon.log.contains("Listening:"))
    }

    @Test("A listener that fails stops the ones already bound (no half-started daemon)")
    func partialStartRollsBack() throws {
        let free = Ports.free(), taken = Ports.free()
        let blocker = try DaemonProcess.launch(config: configJSON([tcpEcho("first", port: taken)]))
        defer { blocker.stop() }
        let daemon = try DaemonProcess(config: configJSON([tcpEcho("a", port: free), tcpEcho("b", port: taken)]))
        try daemon.start()
        #expect(daemon.waitForExit() == 69)
        // The first listener's port is free again.
        #expect(throws: (any Error).self) { _ = try TCPClient(port: free) }
    }

    @Test("Config error at start: every error logged, STATUS and ERRNO, exit 78")
    func configErrorAtStart() throws {
        let daemon = try DaemonProcess(config: """
            {"listeners": [{"name": "echo", "kind": "tcp-echo", "listen": "127.0.0.1:70000"}]}
            """)
        try daemon.start()
        #expect(daemon.waitForExit() == 78)
        #expect(daemon.log.contains("config.json:1:63: listeners[0].listen: \"70000\" in \"127.0.0.1:70000\" is not a port; ports are 0-65535"))
        let failure = try daemon.notify.wait("STATUS with the failure") { $0.contains("STATUS=") }
        #expect(NotifySocket.value("STATUS", in: failure)?.contains("configuration error") == true)
        #expect(NotifySocket.value("ERRNO", in: failure) == "\(EINVAL)")
    }

    @Test("A missing config file: exit 78 with the path")
    func missingConfig() throws {
        let daemon = try DaemonProcess(config: "{}", arguments: ["--config", "/nonexistent/netrelayd.json"])
        try daemon.start()
        #expect(daemon.waitForExit() == 78)
        #expect(daemon.log.contains("/nonexistent/netrelayd.json: cannot open the file: no such file or directory; check the path, or pass another with --config"))
    }

    @Test("SIGUSR1 logs one statistics line per listener")
    func statisticsOnSIGUSR1() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port)]))
        defer { daemon.stop() }
        let client = try TCPClient(port: port)
        try client.send("12345")
        _ = try client.receive(exactly: 5)
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("tcp-echo \"echo\" on 127.0.0.1:\(port): open connections=1, accepted=1, bytes in=5, bytes out=5")
    }
}
