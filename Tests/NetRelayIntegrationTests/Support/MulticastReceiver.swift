import Foundation

/// A multicast receiver for tests: `scripts/lib/mcast_receiver.py` (bind the port, join the
/// group, record each datagram with its kernel receive time) as a subprocess, optionally in
/// a network namespace. It always ends by itself (`deadline`), and is killed if left running.
final class MulticastReceiver: @unchecked Sendable {
    struct Message: Sendable {
        var text: String
        var source: String
        /// Kernel receive time (SO_TIMESTAMPNS, CLOCK_REALTIME), nanoseconds since the epoch.
        var time: Int64
        /// `seq` of a JSON announcement.
        var seq: Int?
        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        }
    }

    static var script: String { Paths.packageRoot.appendingPathComponent("scripts/lib/mcast_receiver.py").path }

    /// The system's python3 when there is one: a pyenv shim first on PATH costs seconds per
    /// start on a loaded machine.
    static var python: String {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
    }

    let label: String
    private let process = Process()
    private let outputPath: String
    private let directory: String

    /// - Parameters:
    ///   - interface: the IPv4 address (IPv4 groups) or interface name (IPv6) to join on.
    ///   - join: false binds the port without joining.
    ///   - multicastAll: sets IP_MULTICAST_ALL (Linux's default 1 also delivers groups that
    ///     other sockets on the host joined).
    ///   - prefix: runs the receiver through this command (e.g. `ip netns exec NS`).
    init(_ label: String = "receiver", group: String, port: Int, interface: String?, join: Bool = true, multicastAll: Int? = nil,
         deadline: Double = 60, prefix: [String] = []) throws {
        self.label = label
        directory = Paths.makeTempDirectory("netrelayd-mcast-rx")
        outputPath = directory + "/out.jsonl"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        var args = [MulticastReceiver.python, MulticastReceiver.script, "--group", group, "--port", "\(port)", "--deadline", "\(deadline)"]
        if let interface { args += ["--interface", interface] }
        if !join { args.append("--no-join") }
        if let multicastAll { args += ["--multicast-all", "\(multicastAll)"] }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = prefix + args
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle(forWritingAtPath: outputPath)
        try process.run()
    }

    private var lines: [String] {
        ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    var output: String { lines.joined(separator: "\n") }

    /// Waits until the receiver is bound (and joined).
    func waitReady(timeout: Double = 30) throws {
        try waitUntil(timeout: timeout, "\(label) to be ready; its output:\n\(output)") {
            if !process.isRunning && !lines.contains(where: { $0.contains("\"ready\"") }) {
                throw TestFailure("\(label) exited before it was ready:\n\(output)")
            }
            return lines.contains { $0.contains("\"event\": \"ready\"") }
        }
    }

    var messages: [Message] {
        lines.compactMap { line -> Message? in
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  obj["event"] as? String == "message" else { return nil }
            return Message(text: obj["text"] as? String ?? "", source: obj["src"] as? String ?? "",
                           time: (obj["t"] as? NSNumber)?.int64Value ?? 0, seq: (obj["seq"] as? NSNumber)?.intValue)
        }
    }

    /// Waits until at least `count` messages arrived and returns all so far.
    @discardableResult
    func waitForMessages(_ count: Int, timeout: Double = 15) throws -> [Message] {
        try waitUntil(timeout: timeout, "\(label) to receive \(count) messages; got \(messages.count); output:\n\(output)") {
            messages.count >= count
        }
        return messages
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The multicast options of a process's UDP sockets, read with getsockopt on duplicates made
/// by pidfd_getfd(2) (`Tests/Tools/multicast_sockopts.py`), keyed by local address.
func multicastSocketOptions(pid: Int32, prefix: [String] = []) throws -> [String: [String: Any]] {
    let script = Paths.packageRoot.appendingPathComponent("Tests/Tools/multicast_sockopts.py").path
    let out = try NetworkLab.run(prefix + [MulticastReceiver.python, script, "\(pid)"])
    var result: [String: [String: Any]] = [:]
    for line in out.split(separator: "\n") {
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], let local = obj["local"] as? String else { continue }
        result[local] = obj
    }
    return result
}

/// A multicast-announcer listener object for `configJSON`.
func multicastAnnouncer(_ name: String = "time", group: String, port: Int, _ options: String = "") -> String {
    "{\"name\": \"\(name)\", \"kind\": \"multicast-announcer\", \"group\": \"\(group)\", \"port\": \(port)\(options.isEmpty ? "" : ", " + options)}"
}

/// A group in 239.255.0.0/16 (administratively scoped, site-local) unlikely to be shared
/// with a test running in parallel.
func testGroup() -> String { "239.255.\(Int.random(in: 1...254)).\(Int.random(in: 1...254))" }
