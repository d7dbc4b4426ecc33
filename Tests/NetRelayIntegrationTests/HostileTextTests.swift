import Foundation
import Testing

/// Text from a config (keys, names, values, interface names) or from the host (interface
/// names) on every way out of the daemon: check-config, the log at start and on reload,
/// STATUS= and every notify message, /status.json, /metrics, the status page and netrelayctl. None may carry a
/// raw control character (C0, DEL, C1), a line or paragraph separator, a bidirectional
/// control or bytes that are not UTF-8; none may start a line of its own.
@Suite("Hostile text on every output channel")
struct HostileTextTests {
    /// Each item is harmless text around the characters an attacker would use.
    static let corpus: [String] = [
        "forged\nline 2026-01-01T00:00:00.000Z info    Ready: forged (event=ready)",
        "cr\rover",
        "nul\u{0}byte",
        "esc\u{1b}[2Jclear",
        "del\u{7f}x",
        "c1\u{85}nel\u{9b}6n",
        "rlo\u{202e}gpj.exe",
        "iso\u{2066}late\u{2069}",
        "sep\u{2028}ls\u{2029}ps",
        "tab\there",
    ]

    /// Corpus items that are valid interface names in a config (1-15 bytes, no white space).
    static let interfaceCorpus = ["esc\u{1b}[2J", "nul\u{0}x", "del\u{7f}", "c1\u{9b}6n", "rlo\u{202e}gpj.exe", "iso\u{2066}x\u{2069}"]

    /// `s` as a JSON string literal, control characters as \u escapes (the config is valid JSON).
    static func json(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20 || u.value == 0x7F || (u.value >= 0x80 && u.value < 0xA0) || (u.value >= 0x2000 && u.value < 0x2100):
                out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// What may not appear in output, found independently of the daemon's own rule: every
    /// offending character (line feeds aside when `lines`) or a note that the bytes are not UTF-8.
    static func offending(_ bytes: [UInt8], lines: Bool = true) -> [String] {
        guard let text = String(validating: bytes, as: UTF8.self) else { return ["bytes that are not UTF-8"] }
        var found: [String] = []
        for u in text.unicodeScalars {
            let v = u.value
            if v == 0x0A && lines { continue }
            if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x061C || v == 0x200E || v == 0x200F
                || (0x2028...0x202E).contains(v) || (0x2066...0x2069).contains(v) {
                found.append(String(format: "U+%04X", v))
            }
        }
        return found
    }

    static func offending(_ text: String, lines: Bool = true) -> [String] { offending(Array(text.utf8), lines: lines) }

    /// A config whose listener has every corpus item as an unknown key, and bad values.
    static func hostileConfig(port: Int) -> String {
        let keys = corpus.map { "\(json($0)): 1" }.joined(separator: ", ")
        return """
            {"listeners": [
              {"name": "echo", "kind": "tcp-echo", "listen": "127.0.0.1:\(port)", \(keys)},
              {"name": \(json(corpus[0])), "kind": "udp-responder", "listen": \(json(corpus[3]))},
              {"name": "m", "kind": "multicast-announcer", "group": "239.255.0.1", "port": 9, "interface": \(json(corpus[2]))}
            ]}
            """
    }

    /// Every line of a daemon log starts with a timestamp: nothing in it began a line of its own.
    static func forgedLines(_ log: String) -> [Substring] {
        log.split(separator: "\n").filter { line in
            !(line.count > 24 && line.prefix(4).allSatisfy(\.isNumber) && line.dropFirst(4).first == "-" && line.dropFirst(10).first == "T")
        }
    }

    static func checkNotifications(_ daemon: DaemonProcess, from: Int = 0) {
        for message in daemon.notify.messages.dropFirst(from) {
            #expect(!message.contains("\u{0}"), "a NUL in a notification: \(message.debugDescription)")
            for line in message.split(separator: "\n") {
                #expect(line.contains("="), "a notification line that is no assignment: \(line.debugDescription)")
                #expect(Self.offending(String(line), lines: false).isEmpty, "\(line.debugDescription)")
            }
        }
    }

    @Test("check-config: every hostile key and value is escaped; each error is one line")
    func checkConfig() throws {
        let dir = Paths.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/hostile.json"
        try Self.hostileConfig(port: 1).write(toFile: path, atomically: true, encoding: .utf8)
        let r = try LargeConfigTests().run(["check-config", path])
        #expect(r.status == 1)
        #expect(Self.offending(r.stderr).isEmpty, "\(Self.offending(r.stderr)): \(r.stderr.debugDescription)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.allSatisfy { $0.hasPrefix(path + ":") }, "a line that is not an error: \(lines.filter { !$0.hasPrefix(path) })")
        #expect(lines.last.map(String.init) == "\(path): \(lines.count - 1) errors")
        // Escaped, not dropped: each key is still named.
        #expect(r.stderr.contains(#"listeners[0].esc\u{1b}[2Jclear: unknown key "esc\u001b[2Jclear""#), "\(r.stderr)")
        #expect(r.stderr.contains(#"listeners[0].rlo\u{202e}gpj.exe"#))
        #expect(r.stderr.contains(#"listeners[0].nul\u{0}byte"#))
        #expect(r.stderr.contains(#"listeners[0].forged\nline 2026"#))
    }

    @Test("Start with the hostile config: the log has one line per record, the notifications no NUL, line break or control")
    func start() throws {
        let daemon = try DaemonProcess(config: Self.hostileConfig(port: Ports.free()))
        try daemon.start()
        #expect(daemon.waitForExit() == 78)
        #expect(Self.forgedLines(daemon.log).isEmpty, "\(Self.forgedLines(daemon.log))")
        #expect(Self.offending(daemon.log).isEmpty, "\(Self.offending(daemon.log))")
        #expect(daemon.log.contains(#"listeners[0].forged\nline"#))
        Self.checkNotifications(daemon)
        #expect(daemon.notify.lastStatus?.hasPrefix("Failed to start: configuration error: ") == true)
    }

    @Test("A hostile interface name in a valid config: the failed start names it escaped, in the log and in STATUS=")
    func startInterfaceName() throws {
        for name in Self.interfaceCorpus.prefix(3) {
            let config = configJSON(["{\"name\": \"m\", \"kind\": \"multicast-announcer\", \"group\": \"239.255.0.1\", \"port\": 9, \"interface\": \(Self.json(name))}"])
            let daemon = try DaemonProcess(config: config)
            try daemon.start()
            #expect(daemon.waitForExit() == 69)
            #expect(Self.forgedLines(daemon.log).isEmpty && Self.offending(daemon.log).isEmpty, "\(daemon.log.debugDescription)")
            #expect(daemon.log.contains("no network interface named"))
            Self.checkNotifications(daemon)
            #expect(daemon.notify.lastStatus?.contains("no network interface named") == true)
        }
    }

    @Test("Reload with the hostile config, and relay targets named by hostile interface names: log, STATUS=, READY=1, /status.json, /metrics, the status page and netrelayctl status are all escaped")
    func reloadAndEndpoint() throws {
        let port = Ports.free(), http = Ports.free(), relay = Ports.free()
        let targets = Self.interfaceCorpus.map { "{\"interface\": \(Self.json($0)), \"port\": 9}" } + ["\"127.255.255.255:9\""]
        let rebroadcaster = "{\"name\": \"relay\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"127.0.0.1:\(relay)\", \"targets\": [\(targets.joined(separator: ", "))]}"
        let good = configJSON([tcpEcho(port: port), rebroadcaster], extra: "\"http\": {\"listen\": \"127.0.0.1:\(http)\"}")
        let daemon = try DaemonProcess.launch(config: good)
        defer { daemon.stop() }
        let mark = try daemon.reload(with: Self.hostileConfig(port: port))
        // The failed reload still tells systemd READY=1 (a NUL in it made systemd drop the whole datagram).
        let ready = try daemon.waitReady(after: mark)
        #expect(NotifySocket.value("STATUS", in: ready)?.contains("reload 1 FAILED") == true)
        try daemon.waitForLog("Reload 1 failed")
        Self.checkNotifications(daemon)
        #expect(Self.forgedLines(daemon.log).isEmpty, "\(Self.forgedLines(daemon.log))")
        #expect(Self.offending(daemon.log).isEmpty, "\(Self.offending(daemon.log))")

        let status = try HTTPTestClient.get(port: http, "/status.json")
        #expect(status.status == 200)
        // JSON escapes are fine; raw control characters (even inside strings) are not.
        #expect(Self.offending(status.body).isEmpty, "\(Self.offending(status.body))")
        #expect(status.body.contains(#"esc\u001b[2J"#), "\(status.body)")
        let decoded = try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any]
        #expect(decoded?["listeners"] != nil)
        let metrics = try HTTPTestClient.get(port: http, "/metrics")
        #expect(Self.offending(metrics.body).isEmpty, "\(Self.offending(metrics.body))")
        #expect(metrics.body.contains(#"target="esc\\u{1b}[2J:9""#), "\(metrics.body.split(separator: "\n").filter { $0.contains("target=") }.prefix(3))")

        let page = try HTTPTestClient.get(port: http, "/")
        #expect(page.status == 200 && Self.offending(page.body).isEmpty, "status page: \(Self.offending(page.body))")
        #expect(page.body.contains(#"esc\u{1b}[2J"#))

        let ctl = Process()
        ctl.executableURL = URL(fileURLWithPath: Paths.netrelayctl)
        ctl.arguments = ["status", "--url", "http://127.0.0.1:\(http)"]
        let out = Pipe()
        ctl.standardOutput = out
        ctl.standardError = out
        try ctl.run()
        let printed = out.fileHandleForReading.readDataToEndOfFile()
        ctl.waitUntilExit()
        let text = String(decoding: printed, as: UTF8.self)
        #expect(Self.offending(Array(printed)).isEmpty, "\(Self.offending(Array(printed))): \(text.debugDescription)")
        #expect(text.contains(#"esc\u{1b}[2J"#), "\(text)")
        #expect(text.contains("reload 1 FAILED"))
    }

    @Test("Interface names from the host (ESC, a bidi override, bytes that are not UTF-8) are listed escaped",
          .enabled(if: LoopbackNamespace.unavailableReason == nil, "\(LoopbackNamespace.unavailableReason ?? "")"))
    func hostInterfaceNames() throws {
        let ns = try LoopbackNamespace()
        defer { ns.destroy() }
        // Linux allows any bytes in a name but '/', ':' and white space.
        try ns.exec(["sh", "-c", #"ip link add name "$(printf 'e\033[31mred')" type bridge && ip link add name "$(printf 'r\342\200\256evil')" type bridge && ip link add name "$(printf 'b\377\376ad')" type bridge"#])
        let config = configJSON(["{\"name\": \"m\", \"kind\": \"multicast-announcer\", \"group\": \"239.255.0.1\", \"port\": 9, \"interface\": \"nope0\"}"])
        let daemon = try DaemonProcess(config: config, namespace: ns.name)
        try daemon.start()
        #expect(daemon.waitForExit() == 69)
        let log = try Data(contentsOf: URL(fileURLWithPath: daemon.logPath))
        #expect(Self.offending(Array(log)).isEmpty, "\(Self.offending(Array(log))): \(String(decoding: log, as: UTF8.self).debugDescription)")
        let text = String(decoding: log, as: UTF8.self)
        #expect(text.contains(#"e\u{1b}[31mred"#) && text.contains(#"r\u{202e}evil"#) && text.contains(#"b\xFF\xFEad"#), "\(text)")
        Self.checkNotifications(daemon)
        #expect(daemon.notify.lastStatus?.contains(#"b\xFF\xFEad"#) == true, "\(daemon.notify.lastStatus ?? "")")
    }
}
