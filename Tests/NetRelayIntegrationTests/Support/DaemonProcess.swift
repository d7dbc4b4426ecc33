import Foundation

/// The real `netrelayd` binary as a subprocess: its own config file, a fake NOTIFY_SOCKET,
/// and its stderr captured to a file for log assertions. Killed (SIGKILL) if a test leaves it running.
final class DaemonProcess: @unchecked Sendable {
    let directory: String
    let configPath: String
    let notify: NotifySocket
    let process = Process()
    let logPath: String

    /// `namespace`: run inside that network namespace (`ip netns exec`, which keeps the PID).
    /// `asUser`: run as that user (via setpriv, without capabilities), for permission tests.
    /// `stderrIsJournal`: set JOURNAL_STREAM to the captured stderr's device and inode, so the
    /// daemon believes its stderr is the journal and logs with sd_journal_sendv.
    init(config: String, arguments: [String]? = nil, environment: [String: String] = [:], logLevel: String = "debug", namespace: String? = nil, asUser: String? = nil, stderrIsJournal: Bool = false) throws {
        directory = Paths.makeTempDirectory()
        configPath = directory + "/config.json"
        logPath = directory + "/stderr.log"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        notify = try NotifySocket(directory: directory)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let args = arguments ?? ["--config", configPath, "--log-level", logLevel]
        if let namespace {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["ip", "netns", "exec", namespace, Paths.netrelayd] + args
        } else if let asUser {
            // The user must reach the config and the notify socket.
            chmod(directory, 0o755)
            chmod(configPath, 0o644)
            chmod(logPath, 0o666)
            chmod(notify.path, 0o666)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(asUser)", "--regid=\(asUser == "nobody" ? "nogroup" : asUser)", "--clear-groups", "--inh-caps=-all", "--", Paths.netrelayd] + args
        } else {
            process.executableURL = URL(fileURLWithPath: Paths.netrelayd)
            process.arguments = args
        }
        var env = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM"] {
            env.removeValue(forKey: key)
        }
        env["NOTIFY_SOCKET"] = notify.path
        if stderrIsJournal {
            var st = stat()
            if stat(logPath, &st) == 0 { env["JOURNAL_STREAM"] = "\(st.st_dev):\(st.st_ino)" }
        }
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: logPath)
        process.standardError = FileHandle(forWritingAtPath: logPath)
    }

    func start() throws {
        guard FileManager.default.isExecutableFile(atPath: Paths.netrelayd) else {
            throw TestFailure("\(Paths.netrelayd) is not built; run `swift build` first (scripts/test does)")
        }
        try process.run()
    }

    /// Starts the daemon and waits for READY=1; returns that message.
    @discardableResult
    static func launch(config: String, environment: [String: String] = [:], logLevel: String = "debug", namespace: String? = nil) throws -> DaemonProcess {
        let d = try DaemonProcess(config: config, environment: environment, logLevel: logLevel, namespace: namespace)
        try d.start()
        do {
            try d.waitReady()
        } catch {
            throw TestFailure("\(error)\n--- daemon log ---\n\(d.log)")
        }
        return d
    }

    @discardableResult
    func waitReady(after index: Int = 0, timeout: Double = 20) throws -> String {
        try notify.wait(timeout: timeout, after: index, "READY=1") { $0.contains("READY=1") }
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func waitForLog(_ text: String, timeout: Double = 15) throws {
        try waitUntil(timeout: timeout, "log line containing \(text.debugDescription); log so far:\n\(log)") { log.contains(text) }
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Rewrites the config and sends SIGHUP; returns the index of the next notification.
    func reload(with config: String) throws -> Int {
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let mark = notify.messages.count
        signal(SIGHUP)
        return mark
    }

    /// Waits for the process to exit and returns its status (nil if it is still running).
    func waitForExit(timeout: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Resident set size in KiB, from /proc.
    var rssKiB: Int {
        guard let status = SocketQueues.readProcFile("/proc/\(pid)/status") else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }

    func stop() {
        if process.isRunning {
            signal(SIGTERM)
            if waitForExit(timeout: 15) == nil {
                signal(SIGKILL)
                _ = waitForExit(timeout: 5)
            }
        }
    }

    deinit {
        notify.stop()
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A config with the given listener JSON objects.
func configJSON(_ listeners: [String], extra: String = "") -> String {
    "{\(extra.isEmpty ? "" : extra + ",") \"listeners\": [\n" + listeners.joined(separator: ",\n") + "\n]}"
}

func tcpEcho(_ name: String = "echo", port: Int, host: String = "127.0.0.1", _ options: String = "") -> String {
    let h = host.contains(":") ? "[\(host)]" : host
    return "{\"name\": \"\(name)\", \"kind\": \"tcp-echo\", \"listen\": \"\(h):\(port)\"\(options.isEmpty ? "" : ", " + options)}"
}
