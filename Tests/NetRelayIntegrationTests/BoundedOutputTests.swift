import Foundation
import Testing

/// Output proportional to bad input is a denial of service on the operator's terminal and on
/// the journal (whose rate limit then hides the lines that matter): errors and warnings stop
/// after `ConfigurationIssue.shownLimit` (50), then one line says how many more, in
/// check-config, at start and on reload.
@Suite("Bounded error output")
struct BoundedOutputTests {
    /// One listener followed by unknown keys up to `size` bytes; returns the text and the key count.
    static func unknownKeys(size: Int) -> (String, Int) {
        var text = "{\"listeners\": [{\"name\": \"a\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:1\""
        var n = 0
        while true {
            let key = ", \"unknownKey\(n)\": 0"
            if text.utf8.count + key.utf8.count + 3 > size { break }
            text += key
            n += 1
        }
        return (text + "}]}", n)
    }

    static func write(_ text: String, in dir: String, _ name: String = "config.json") throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("check-config on 4 MiB of unknown keys: the first 50 errors, '… and N more errors', the total; under 16 KiB")
    func checkConfigUnknownKeys() throws {
        let dir = Paths.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (text, keys) = Self.unknownKeys(size: 4 << 20)
        let path = try Self.write(text, in: dir)
        let started = Date()
        // The timeout is a bound against hanging (a debug build on a loaded machine), not a speed test.
        let r = try LargeConfigTests().run(["check-config", path], timeout: 10)
        let seconds = Date().timeIntervalSince(started)
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 52, "\(lines.count) lines: \(r.stderr.prefix(2000))")
        #expect(lines.prefix(50).allSatisfy { $0.contains(": unknown key \"unknownKey") })
        #expect(lines[50] == "… and \(ConfigurationIssueText.grouped(keys - 50)) more errors", "\(lines[50])")
        #expect(lines[51] == "\(path): \(ConfigurationIssueText.grouped(keys)) errors")
        #expect(r.stderr.utf8.count < 16 * 1024, "\(r.stderr.utf8.count) bytes")
        print("checkConfigUnknownKeys: \(keys) unknown keys in \(text.utf8.count) bytes: \(r.stderr.utf8.count) bytes of errors in \(String(format: "%.2f", seconds)) s")
    }

    @Test("A start with 4 MiB of unknown keys logs 50 errors, the rest counted, and exits 78; STATUS= counts them all")
    func startUnknownKeys() throws {
        let (text, keys) = Self.unknownKeys(size: 4 << 20)
        let daemon = try DaemonProcess(config: text)
        try daemon.start()
        #expect(daemon.waitForExit(timeout: 30) == 78)
        let log = daemon.log
        #expect(log.components(separatedBy: ": unknown key \"unknownKey").count - 1 == 50)
        #expect(log.contains("… and \(ConfigurationIssueText.grouped(keys - 50)) more errors"))
        #expect(log.contains("Configuration has \(ConfigurationIssueText.grouped(keys)) errors"))
        #expect(log.utf8.count < 24 * 1024, "\(log.utf8.count) bytes of log")
        let status = daemon.notify.messages.compactMap { NotifySocket.value("STATUS", in: $0) }.last ?? ""
        #expect(status.contains("(and \(ConfigurationIssueText.grouped(keys - 1)) more)"), "\(status)")
    }

    @Test("A reload with 4 MiB of unknown keys logs 50 errors and the count, and keeps serving")
    func reloadUnknownKeys() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port)]), logLevel: "info")
        defer { daemon.stop() }
        let before = daemon.log.utf8.count
        let (text, keys) = Self.unknownKeys(size: 4 << 20)
        let mark = try daemon.reload(with: text)
        let ready = try daemon.waitReady(after: mark, timeout: 30)
        #expect(NotifySocket.value("STATUS", in: ready)?.contains("reload 1 FAILED") == true)
        try daemon.waitForLog("Reload 1 failed")
        let entry = String(daemon.log.utf8.dropFirst(before)) ?? ""
        #expect(entry.components(separatedBy: ": unknown key \"unknownKey").count - 1 == 50)
        #expect(entry.contains("… and \(ConfigurationIssueText.grouped(keys - 50)) more errors"))
        #expect(entry.utf8.count < 24 * 1024, "\(entry.utf8.count) bytes logged by the reload")
        let client = try TCPClient(port: port)
        try client.send("still")
        #expect(try client.receiveText(5) == "still")
    }

    @Test("40,000 listeners on one port: 50 conflicts printed, the rest counted")
    func portConflicts() throws {
        let dir = Paths.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let items = (0..<40_000).map { "{\"name\": \"u\($0)\", \"kind\": \"udp-responder\", \"listen\": \"127.0.0.1:5000\"}" }
        let path = try Self.write("{\"listeners\": [" + items.joined(separator: ",") + "]}", in: dir)
        let r = try LargeConfigTests().run(["check-config", path], timeout: 60)
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 52, "\(lines.count) lines")
        #expect(lines[50].hasPrefix("… and ") && lines[50].hasSuffix(" more errors"), "\(lines[50])")
        #expect(r.stderr.utf8.count < 16 * 1024, "\(r.stderr.utf8.count) bytes")
    }

    @Test("Warnings stop at 50 too: 200 listeners that each warn, at check-config and at start")
    func warnings() throws {
        let items = (0..<200).map { tcpEcho("e\($0)", port: 0, "\"maxConnections\": 1, \"maxConnectionsPerSource\": 2") }
        let config = configJSON(items)
        let dir = Paths.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try LargeConfigTests().run(["check-config", try Self.write(config, in: dir)])
        #expect(r.status == 0)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 51 && lines[50] == "… and 150 more warnings", "\(lines.suffix(2))")
        let daemon = try DaemonProcess.launch(config: config, logLevel: "info")
        defer { daemon.stop() }
        #expect(daemon.log.components(separatedBy: "warning: listeners[").count - 1 == 50)
        #expect(daemon.log.contains("… and 150 more warnings"))
    }

    @Test("A number of 4 million digits is quoted by its first 64 digits and its length")
    func longNumber() throws {
        let dir = Paths.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let digits = String(repeating: "1", count: 4_000_000)
        let path = try Self.write("{\"eventLoopThreads\": \(digits), \"listeners\": [" + tcpEcho(port: 1) + "]}", in: dir)
        let r = try LargeConfigTests().run(["check-config", path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("eventLoopThreads: \(String(repeating: "1", count: 64))… (4000000 characters) is out of range; expected an integer from 1 to 64 threads"), "\(r.stderr.prefix(500))")
        #expect(r.stderr.utf8.count < 1024)
    }
}

/// The thousands separator the daemon writes in counts ("358,721").
enum ConfigurationIssueText {
    static func grouped(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "," }
            out.append(d)
        }
        return out
    }
}
