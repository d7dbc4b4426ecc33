import Foundation
import Testing

/// netrelayd's command line: what an operator types, what comes back, which exit status.
@Suite("netrelayd command line")
struct CommandLineTests {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func run(_ args: [String]) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Paths.netrelayd)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    @Test("check-config: 'configuration OK' and exit 0 for the shipped default")
    func checkConfigOK() throws {
        let r = try run(["check-config", Paths.packageRoot.appendingPathComponent("config/netrelayd.json").path])
        #expect(r.status == 0)
        #expect(r.stdout == "configuration OK\n")
        #expect(r.stderr.isEmpty)
    }

    @Test("check-config: every error, a count, exit 1")
    func checkConfigErrors() throws {
        let dir = Paths.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.json"
        try """
            {"listeners": [
              {"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:2000", "maxConection": 1},
              {"name": "m", "kind": "multicast-announcer", "group": "10.0.0.1", "port": 8088}
            ]}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try run(["check-config", path])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == """
            \(path):2:65: listeners[0].maxConection: unknown key "maxConection" in a tcp-echo listener; did you mean "maxConnections"?
            \(path):3:57: listeners[1].group: 10.0.0.1 is not a multicast address; expected an IPv4 address in 224.0.0.0/4 (e.g. "239.255.0.1") or an IPv6 address in ff00::/8
            \(path): 2 errors

            """)
    }

    @Test("check-config prints warnings but passes")
    func checkConfigWarnings() throws {
        let r = try run(["check-config", Paths.packageRoot.appendingPathComponent("config/examples/classic.json").path])
        #expect(r.status == 0)
        #expect(r.stdout == "configuration OK\n")
        #expect(r.stderr.contains("warning: ") && r.stderr.contains("listeners[3].ttl: ttl 128"))
    }

    @Test("Usage errors exit 64 with a sentence a person can act on", arguments: [
        (["--confg", "x.json"], "netrelayd: unknown option '--confg'; did you mean '--config'?"),
        (["config.json"], "netrelayd: unknown subcommand 'config.json'; pass the configuration with --config config.json, or check it with check-config config.json"),
        (["check-config"], "netrelayd: check-config needs the path of the configuration file, e.g. netrelayd check-config /etc/netrelayd/config.json"),
        (["--log-level", "loud"], "netrelayd: --log-level must be one of trace, debug, info, notice, warning, error, critical (got 'loud')"),
        (["--config"], "netrelayd: --config needs a value"),
    ])
    func usageErrors(_ args: [String], _ expected: String) throws {
        let r = try run(args)
        #expect(r.status == 64)
        #expect(r.stderr == expected + "\nRun 'netrelayd --help' for usage.\n")
    }

    @Test("--version (with the license) and --help")
    func versionAndHelp() throws {
        let v = try run(["--version"])
        #expect(v.status == 0 && v.stdout.hasPrefix("netrelayd "))
        #expect(v.stdout.split(separator: "\n").first?.split(separator: " ").count == 2, "the first line is 'netrelayd VERSION': \(v.stdout)")
        #expect(v.stdout.contains("License: Apache-2.0"), "\(v.stdout)")
        let h = try run(["--help"])
        #expect(h.status == 0 && h.stdout.contains("netrelayd check-config PATH") && h.stdout.contains("78 configuration error"))
    }
}
