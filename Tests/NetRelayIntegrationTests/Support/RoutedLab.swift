import Foundation

/// Several subnets and one relay host between them, all in network namespaces this lab creates
/// and deletes: subnet s (1-based) is a bridge in its own switch namespace, with `hosts`
/// host namespaces (each with an `eth0` on the bridge) and one veth of the relay namespace,
/// named `eth<s>` there. Nothing is added to the machine's own namespace.
///
/// Subnet s is 10.24s.N.0/24 (N picked per lab so that parallel labs do not collide); host i
/// has 10.24s.N.i, the relay 10.24s.N.254. Each host's default route points at the relay, as
/// on a routed LAN, so a host can send to 255.255.255.255. The relay has no default route.
final class RoutedLab: @unchecked Sendable {
    let name: String
    let net: Int
    let subnets: Int
    let hosts: Int
    private var created: [String] = []
    private var processes: [Process] = []

    init(subnets: Int, hostsPerSubnet: Int) throws {
        precondition((1...9).contains(subnets))
        self.subnets = subnets
        self.hosts = hostsPerSubnet
        net = Int.random(in: 1...250)
        name = "nrr\(getpid() % 100000)x\(net)"
        do {
            try build()
        } catch {
            destroy()
            throw error
        }
    }

    var relayNamespace: String { "\(name)-relay" }
    func switchNamespace(_ s: Int) -> String { "\(name)-sw\(s)" }
    func namespace(_ s: Int, _ h: Int) -> String { "\(name)-s\(s)h\(h)" }
    func address(_ s: Int, _ h: Int) -> String { "10.24\(s).\(net).\(h)" }
    func relayAddress(_ s: Int) -> String { address(s, 254) }
    func broadcastAddress(_ s: Int) -> String { "10.24\(s).\(net).255" }
    /// The relay's interface in subnet s.
    func relayInterface(_ s: Int) -> String { "eth\(s)" }

    private func build() throws {
        try NetworkLab.run(["ip", "netns", "add", relayNamespace])
        created.append(relayNamespace)
        try inRelay(["ip", "link", "set", "lo", "up"])
        for s in 1...subnets {
            let sw = switchNamespace(s)
            try NetworkLab.run(["ip", "netns", "add", sw])
            created.append(sw)
            try NetworkLab.run(["ip", "netns", "exec", sw, "ip", "link", "add", "br0", "type", "bridge"])
            try NetworkLab.run(["ip", "netns", "exec", sw, "ip", "link", "set", "br0", "up"])
            // The relay's leg.
            try NetworkLab.run(["ip", "netns", "exec", sw, "ip", "link", "add", "r\(s)", "type", "veth", "peer", "name", "rl\(s)"])
            try NetworkLab.run(["ip", "netns", "exec", sw, "ip", "link", "set", "rl\(s)", "netns", relayNamespace])
            try NetworkLab.run(["ip", "netns", "exec", sw, "ip", "link", "set", "r\(s)", "master", "br0"])
            try NetworkLab.run(["ip", "netns", "exec", sw, "ip", "link", "set", "r\(s)", "up"])
            try inRelay(["ip", "link", "set", "rl\(s)", "name", relayInterface(s)])
            try inRelay(["ip", "addr", "add", "\(relayAddress(s))/24", "broadcast", broadcastAddress(s), "dev", relayInterface(s)])
            try inRelay(["ip", "link", "set", relayInterface(s), "up"])
            for h in 1...hosts {
                let ns = namespace(s, h)
                try NetworkLab.run(["ip", "netns", "add", ns])
                created.append(ns)
                try NetworkLab.run(["ip", "netns", "exec", sw, "ip", "link", "add", "p\(h)", "type", "veth", "peer", "name", "e\(s)h\(h)"])
                try NetworkLab.run(["ip", "netns", "exec", sw, "ip", "link", "set", "e\(s)h\(h)", "netns", ns])
                try NetworkLab.run(["ip", "netns", "exec", sw, "ip", "link", "set", "p\(h)", "master", "br0"])
                try NetworkLab.run(["ip", "netns", "exec", sw, "ip", "link", "set", "p\(h)", "up"])
                try exec(s, h, ["ip", "link", "set", "e\(s)h\(h)", "name", "eth0"])
                try exec(s, h, ["ip", "link", "set", "lo", "up"])
                try exec(s, h, ["ip", "addr", "add", "\(address(s, h))/24", "broadcast", broadcastAddress(s), "dev", "eth0"])
                try exec(s, h, ["ip", "link", "set", "eth0", "up"])
                try exec(s, h, ["ip", "route", "add", "default", "via", relayAddress(s)])
            }
        }
    }

    @discardableResult
    func inRelay(_ args: [String]) throws -> String {
        try NetworkLab.run(["ip", "netns", "exec", relayNamespace] + args)
    }

    @discardableResult
    func exec(_ s: Int, _ h: Int, _ args: [String]) throws -> String {
        try NetworkLab.run(["ip", "netns", "exec", namespace(s, h)] + args)
    }

    /// Starts a long-running command in a namespace; stopped by `destroy()`.
    func spawn(namespace ns: String, _ args: [String], output: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", ns] + args
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle(forWritingAtPath: output)
        p.standardError = FileHandle(forWritingAtPath: output)
        try p.run()
        processes.append(p)
        return p
    }

    func destroy() {
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        for p in processes {
            let deadline = Date().addingTimeInterval(10)
            while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        processes = []
        for ns in created.reversed() { _ = try? NetworkLab.run(["ip", "netns", "del", ns]) }
        created = []
    }

    deinit { destroy() }
}

/// netrelayd in the relay namespace of a `RoutedLab`, with a notify socket (a unix socket
/// path crosses network namespaces) so that STATUS= can be read.
final class RelayLabDaemon {
    let directory: String
    let configPath: String
    let logPath: String
    let notify: NotifySocket
    let process: Process

    init(lab: RoutedLab, config: String) throws {
        directory = Paths.makeTempDirectory("netrelayd-relaylab")
        configPath = directory + "/config.json"
        logPath = directory + "/daemon.log"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        notify = try NotifySocket(directory: directory)
        process = try lab.spawn(namespace: lab.relayNamespace,
                                ["env", "NOTIFY_SOCKET=\(notify.path)", Paths.netrelayd, "--config", configPath, "--log-level", "debug"], output: logPath)
        try waitForLog("Ready:")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func waitForLog(_ text: String, timeout: Double = 15) throws {
        try waitUntil(timeout: timeout, "daemon log line containing \(text.debugDescription); log so far:\n\(log)") {
            if !process.isRunning && !log.contains(text) { throw TestFailure("netrelayd exited (\(process.terminationStatus)); log:\n\(log)") }
            return log.contains(text)
        }
    }

    /// Sends SIGUSR1 and returns the statistics line of `listener` once it satisfies `predicate`.
    func statistics(of listener: String, until predicate: (String) -> Bool) throws -> String {
        var found = ""
        try waitUntil(timeout: 10, "statistics of \(listener) as expected; last: \(found)\nlog:\n\(log)") {
            signal(SIGUSR1)
            Thread.sleep(forTimeInterval: 0.2)
            let lines = log.split(separator: "\n").filter { $0.contains("\"\(listener)\"") && $0.contains("datagrams in=") || $0.contains("\"\(listener)\"") && $0.contains("no traffic yet") }
            found = lines.last.map(String.init) ?? ""
            return predicate(found)
        }
        return found
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    deinit {
        notify.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
