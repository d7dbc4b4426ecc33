import Foundation
import Testing

/// Configurations as tools write them (everything on one line) and as a careless operator
/// points at them (a FIFO), through the real binary: check-config, start and reload.
@Suite("Large and unusual configuration files")
struct LargeConfigTests {
    /// A one-line config (json.dumps style) with `count` listeners; `padding` bytes of
    /// replyPrefix each make the file bigger without making it any harder to bind.
    static func oneLineConfig(count: Int, padding: Int = 0, extra: String = "") -> String {
        let prefix = String(repeating: "p", count: padding)
        let items = (0..<count).map { i -> String in
            let kind = i % 2 == 0 ? "tcp-echo" : "udp-responder"
            // Port 0: the kernel picks a free port for each, so thousands can be bound.
            return "{\"name\": \"l\(i)\", \"kind\": \"\(kind)\", \"listen\": \"127.0.0.1:0\", \"replyPrefix\": \"\(prefix)\"}"
        }
        return "{\(extra)\"listeners\": [" + items.joined(separator: ", ") + "]}"
    }

    struct Outcome {
        var status: Int32?
        var stdout: String
        var stderr: String
    }

    /// Runs netrelayd to completion, or kills it after `timeout` s (status nil): a hang must fail the test, not stall it.
    func run(_ args: [String], timeout: Double = 60) throws -> Outcome {
        let dir = Paths.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Paths.netrelayd)
        p.arguments = args
        _ = FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        _ = FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: dir + "/out")
        p.standardError = FileHandle(forWritingAtPath: dir + "/err")
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let hung = p.isRunning
        if hung {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        let out = (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? ""
        return Outcome(status: hung ? nil : p.terminationStatus, stdout: out, stderr: err)
    }

    /// Thousands of listeners need thousands of descriptors; a login shell's soft limit is 1,024.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = min(limit.rlim_max, 16384)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    @Test("check-config accepts a one-line config of 5,000 listeners (about 1 MB)")
    func checkConfigOneLine() throws {
        let dir = Paths.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/big.json"
        let text = Self.oneLineConfig(count: 5000, padding: 120)
        #expect(!text.contains("\n") && text.utf8.count > 900_000)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try run(["check-config", path])
        #expect(r.status == 0, "stderr: \(r.stderr.prefix(2000))")
        #expect(r.stdout == "configuration OK\n")
    }

    @Test("SIGTERM right after SIGHUP with a big one-line config: the daemon stops within shutdownTimeout, exit 0")
    func sigtermDuringLargeReload() throws {
        Self.raiseDescriptorLimit()
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port)], extra: "\"shutdownTimeout\": 2"))
        defer { daemon.stop() }
        // About 1 MB on one line, 2,000 listeners: the file quadratic parsing took minutes over.
        let big = Self.oneLineConfig(count: 2000, padding: 450, extra: "\"shutdownTimeout\": 2, ")
        let mark = try daemon.reload(with: big)
        daemon.signal(SIGTERM)
        let sent = Date()
        // Generous: shutdownTimeout (2 s) + 1 s, plus slack for a loaded CI machine. Before the
        // reload moved off the signal task, the daemon first read the whole file (minutes).
        let status = daemon.waitForExit(timeout: 2 + 1 + 7)
        #expect(status == 0, "still running \(Date().timeIntervalSince(sent)) s after SIGTERM; log:\n\(daemon.log.suffix(3000))")
        #expect(daemon.notify.messages[mark...].contains { $0.contains("STOPPING=1") })
        #expect(daemon.log.contains("Stopped"))
        print("sigtermDuringLargeReload: exited \(Date().timeIntervalSince(sent)) s after SIGTERM; reload \(daemon.log.contains("Reload abandoned") ? "abandoned" : "finished first")")
    }

    @Test("A reload of thousands of listeners on one line applies them all")
    func largeReloadApplies() throws {
        Self.raiseDescriptorLimit()
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port)]), logLevel: "info")
        defer { daemon.stop() }
        let mark = try daemon.reload(with: Self.oneLineConfig(count: 2000, padding: 100))
        let ready = try daemon.waitReady(after: mark, timeout: 60)
        let status = try #require(NotifySocket.value("STATUS", in: ready))
        #expect(status.contains("reload 1 ok"), "\(status)")
        try daemon.waitForLog("Reload 1 complete: 2000 added, 0 changed, 1 removed, 0 unchanged")
    }

    @Test("A FIFO as the config: check-config and start refuse it at once, a reload keeps serving")
    func fifoIsRefused() throws {
        let dir = Paths.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fifo = dir + "/config.json"
        #expect(mkfifo(fifo, 0o600) == 0)
        // Nobody ever writes to the FIFO: reading it would block for ever.
        let r = try run(["check-config", fifo], timeout: 20)
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(fifo): is a FIFO (named pipe), not a regular file; netrelayd reads its configuration only from a regular file"), "\(r.stderr)")
        let dev = try run(["check-config", "/dev/zero"], timeout: 20)
        #expect(dev.status == 1 && dev.stderr.contains("/dev/zero: is a character device, not a regular file"), "\(dev.stderr)")

        let atStart = try DaemonProcess(config: "{}", arguments: ["--config", fifo])
        try atStart.start()
        #expect(atStart.waitForExit(timeout: 20) == 78)
        #expect(atStart.log.contains("\(fifo): is a FIFO (named pipe), not a regular file"))

        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port)]))
        defer { daemon.stop() }
        unlink(daemon.configPath)
        #expect(mkfifo(daemon.configPath, 0o600) == 0)
        let mark = daemon.notify.messages.count
        daemon.signal(SIGHUP)
        let ready = try daemon.waitReady(after: mark)
        #expect(NotifySocket.value("STATUS", in: ready)?.contains("reload 1 FAILED, previous configuration kept") == true)
        try daemon.waitForLog("is a FIFO (named pipe), not a regular file")
        let client = try TCPClient(port: port)
        try client.send("still here")
        #expect(try client.receiveText(10) == "still here")
    }
}
