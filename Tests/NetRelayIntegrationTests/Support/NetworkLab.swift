import Foundation

/// A private subnet for tests: `hosts` network namespaces, each with an `eth0` veth whose
/// peer is attached to a bridge living in its own "switch" namespace, so nothing is added to
/// the machine's own network namespace and broadcasts and multicast stay inside the lab.
///
/// Host i (1-based) has address 10.250.N.i/24, where N is picked per lab so parallel labs do
/// not collide; each host has a route for 224.0.0.0/4 via eth0 (there is no default route).
/// Namespaces are deleted in `destroy()` (and in deinit), including after a failed test.
final class NetworkLab: @unchecked Sendable {
    let name: String
    let subnet: Int
    let hostCount: Int
    private var created: [String] = []
    private var processes: [Process] = []

    /// Why a lab cannot be built here, or nil when it can (root, `ip netns` permitted).
    static let unavailableReason: String? = {
        if geteuid() != 0 { return "network namespace tests need root" }
        let probe = "nrprobe\(getpid())"
        guard (try? NetworkLab.run(["ip", "netns", "add", probe])) != nil else {
            return "`ip netns add` is not permitted here"
        }
        _ = try? NetworkLab.run(["ip", "netns", "del", probe])
        return nil
    }()

    init(hosts: Int) throws {
        hostCount = hosts
        subnet = Int.random(in: 1...250)
        name = "nr\(getpid() % 100000)x\(subnet)"
        do {
            try build()
        } catch {
            destroy()
            throw error
        }
    }

    var switchNamespace: String { "\(name)-sw" }
    func namespace(_ host: Int) -> String { "\(name)-h\(host)" }
    func address(_ host: Int) -> String { "10.250.\(subnet).\(host)" }
    var broadcastAddress: String { "10.250.\(subnet).255" }

    private func build() throws {
        try NetworkLab.run(["ip", "netns", "add", switchNamespace])
        created.append(switchNamespace)
        try sw(["ip", "link", "add", "br0", "type", "bridge"])
        try sw(["ip", "link", "set", "br0", "up"])
        try sw(["ip", "link", "set", "lo", "up"])
        for h in 1...hostCount {
            let ns = namespace(h)
            try NetworkLab.run(["ip", "netns", "add", ns])
            created.append(ns)
            // Create the pair inside the switch namespace, then move one end to the host.
            try sw(["ip", "link", "add", "p\(h)", "type", "veth", "peer", "name", "eth0h\(h)"])
            try sw(["ip", "link", "set", "eth0h\(h)", "netns", ns])
            try sw(["ip", "link", "set", "p\(h)", "master", "br0"])
            try sw(["ip", "link", "set", "p\(h)", "up"])
            try exec(h, ["ip", "link", "set", "eth0h\(h)", "name", "eth0"])
            try exec(h, ["ip", "link", "set", "lo", "up"])
            try exec(h, ["ip", "addr", "add", "\(address(h))/24", "broadcast", broadcastAddress, "dev", "eth0"])
            try exec(h, ["ip", "link", "set", "eth0", "up"])
            try exec(h, ["ip", "route", "add", "224.0.0.0/4", "dev", "eth0"])
        }
    }

    /// Runs a command in the switch namespace.
    private func sw(_ args: [String]) throws {
        try NetworkLab.run(["ip", "netns", "exec", switchNamespace] + args)
    }

    /// Runs a command in host `h`'s namespace and returns its output; throws on failure.
    @discardableResult
    func exec(_ h: Int, _ args: [String]) throws -> String {
        try NetworkLab.run(["ip", "netns", "exec", namespace(h)] + args)
    }

    /// Starts a long-running command in host `h`'s namespace; stopped by `destroy()`.
    func spawn(_ h: Int, _ args: [String], output: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", namespace(h)] + args
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle(forWritingAtPath: output)
        p.standardError = FileHandle(forWritingAtPath: output)
        try p.run()
        processes.append(p)
        return p
    }

    func destroy() {
        for p in processes where p.isRunning {
            kill(p.processIdentifier, SIGTERM)
        }
        for p in processes {
            let deadline = Date().addingTimeInterval(10)
            while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        processes = []
        for ns in created.reversed() {
            _ = try? NetworkLab.run(["ip", "netns", "del", ns])
        }
        created = []
    }

    deinit { destroy() }

    @discardableResult
    static func run(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let out = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw TestFailure("`\(args.joined(separator: " "))` failed (\(p.terminationStatus)): \(out)")
        }
        return out
    }
}
