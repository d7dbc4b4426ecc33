import Testing

@Suite("netrelayctl usage errors exit 2 with a sentence to act on")
struct UsageTests {
    @Test("usage errors", arguments: [
        (["tcp", "127.0.0.1"], "Error: HOST:PORT '127.0.0.1' has no port: write HOST:PORT, e.g. 127.0.0.1:2000 or [::1]:2000."),
        (["tcp", "::1:2000"], "Error: HOST:PORT '::1:2000' looks like an IPv6 address without brackets: write it as [::1]:2000."),
        (["tcp", "127.0.0.1:0"], "Error: HOST:PORT '127.0.0.1:0': '0' is not a port number; use a number from 1 to 65535."),
        (["tcp", "127.0.0.1:2000", "--timeout", "0"], "Error: --timeout must be a positive number of seconds up to 1000000, e.g. --timeout 5 (got 0)."),
        (["tcp", "127.0.0.1:2000", "--send", "a", "--interval", "1"], "Error: --interval spaces out several --send texts; give at least two --send, or drop --interval."),
        (["udp", "127.0.0.1:2001"], "Error: Missing expected argument '--send <text>'"),
        (["udp", "127.0.0.1:2001", "--send", "x", "--count", "0"], "Error: --count must be a whole number from 1 to 1000000 (got 0)."),
        (["broadcast", "--bind", "[::]:2002", "--to", "127.0.0.1:2003", "--send", "x"], "Error: IPv6 has no broadcast: give IPv4 addresses to --bind and --to, or use 'netrelayctl listen' with an IPv6 multicast group."),
        (["listen", "10.1.2.3:8088"], "Error: '10.1.2.3' is not a multicast group: IPv4 groups are 224.0.0.0 to 239.255.255.255, IPv6 groups start with ff (e.g. 239.255.0.1:8088)."),
        (["listen", "239.255.0.1:8088", "--interface", "nosuch0"], "Error: --interface nosuch0: no such interface"),
        (["listen", "239.255.0.1:8088", "--interface", "::1"], "Error: --interface ::1 is not an IPv4 address, but the group is IPv4: give the interface's name (--interface lo) or one of its IPv4 addresses."),
        (["tcp", "127.0.0.1:2000", "--bogus"], "Error: Unknown option '--bogus'"),
        (["frobnicate"], "Error: Unexpected argument 'frobnicate'"),
    ])
    func usage(arguments: [String], message: String) async throws {
        let child = try ChildProcess(Binaries.netrelayctl, arguments)
        let r = await child.wait(seconds: 20)
        #expect(r.status == 2, "\(arguments): \(r.stderr)")
        #expect(r.stderr.hasPrefix(message), "\(arguments): \(r.stderr)")
        #expect(r.stderr.contains("--help"), "the message should point at --help")
        #expect(r.stdout.isEmpty)
    }

    @Test("--help of every subcommand: abstract, example, exit status, options", arguments: ["tcp", "udp", "broadcast", "listen"])
    func help(subcommand: String) async throws {
        let r = try await ctl(subcommand, "--help")
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("OVERVIEW: "))
        #expect(r.stdout.contains("$ netrelayctl \(subcommand) "))
        #expect(r.stdout.contains("Exit status: 0"))
        #expect(r.stdout.contains("--json"))
    }

    @Test("the top-level --help documents the JSON schema")
    func topLevelHelp() async throws {
        let r = try await ctl("--help")
        #expect(r.status == 0)
        for event in ["connected", "sent", "data", "half-closed", "closed", "reply", "listening", "broadcast", "joined", "announcement", "stats", "timeout", "error"] {
            #expect(r.stdout.contains("  \(event) "), "\(event) is not documented")
        }
    }
}
