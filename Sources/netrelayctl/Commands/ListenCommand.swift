import ArgumentParser
import NIOCore

struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Join a multicast group and print each announcement.",
        discussion: """
            The classic Node.js multicast client binds the group's port, joins the group \
            (addMembership) and prints every message. Against a multicast-announcer with \
            "group": "239.255.0.1", "port": 8088, "interface": "lo", "format": "json":

              $ netrelayctl listen 239.255.0.1:8088 --interface lo --count 3 --stats
              joined 239.255.0.1 on lo (127.0.0.1), listening on 239.255.0.1:8088
              announcement from 127.0.0.1:51234 (80 bytes, seq 7): {"time":"…","seq":7,…}
              announcement from 127.0.0.1:51234 (80 bytes, seq 8): {"time":"…","seq":8,…}
              announcement from 127.0.0.1:51234 (80 bytes, seq 9): {"time":"…","seq":9,…}
              stats: 3 heard from 1 sender over 2.002 s, mean interval 1.001 s, no gaps

            --interface takes a name (lo, eth0) or one of the interface's addresses (127.0.0.1); \
            without it the kernel joins on the interface its routing table picks for the group. \
            Interfaces without the MULTICAST flag (Linux's lo has none) are joined through \
            setsockopt directly, which Linux accepts. The socket shares the port (SO_REUSEADDR, \
            SO_REUSEPORT) with other listeners and the announcer.

            It runs until --count announcements were heard, --timeout seconds passed, or Ctrl-C \
            (SIGINT or SIGTERM end it like a timeout, after --stats is printed).

            --stats prints at the end the count, senders, mean interval and, for announcements \
            in the json format (they carry "seq":N), the gaps in each sender's sequence; other \
            formats have no sequence numbers, so no gaps are reported.

            Exit status: 0 when --count announcements were heard (without --count: at least \
            one by the end); 1 otherwise; 2 on usage errors.

            JSON events (--json): joined, announcement, stats, timeout, error; see netrelayctl --help.
            """
    )

    @Argument(help: ArgumentHelp(
        "The multicast group and port: 239.255.0.1:8088 or [ff02::1:3]:8088.",
        valueName: "group:port"
    ))
    var group: String

    @Option(help: ArgumentHelp(
        "Interface to join the group on, by name (lo) or address (127.0.0.1); default: the routing table's choice.",
        valueName: "name|addr"
    ))
    var interface: String?

    @Option(help: ArgumentHelp("Exit with success after this many announcements (default: run on).", valueName: "n"))
    var count: Int?

    @Option(help: ArgumentHelp("Stop after this many seconds (default: no limit).", valueName: "seconds"))
    var timeout: Double?

    @Flag(help: "At the end, print count, mean interval and sequence gaps.")
    var stats = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        let address = try groupAddress()
        if let count { try OptionCheck.count(count) }
        if let timeout { try OptionCheck.seconds(timeout, "--timeout", allowZero: false) }
        if let interface { _ = try Interfaces.device(interface, family: family(of: address)) }
    }

    func run() async throws {
        let out = Output(json: output.json)
        let address = try groupAddress()
        let listen = MulticastListen(
            group: address,
            device: try interface.map { try Interfaces.device($0, family: family(of: address)) },
            count: count,
            timeout: timeout.map(ProbeRunner.time),
            stats: stats,
            output: out
        )
        try await ProbeRunner.run(output: out) { await listen.run(on: $0) }
    }

    private func groupAddress() throws -> SocketAddress {
        let parsed = try HostPort.parse(group, option: "GROUP:PORT")
        guard parsed.isLiteral, let address = try? SocketAddress(ipAddress: parsed.host, port: parsed.port) else {
            throw ValidationError("GROUP:PORT '\(group)' needs the group's IP address, not a name: e.g. 239.255.0.1:\(parsed.port).")
        }
        guard address.isMulticast else {
            throw ValidationError("'\(parsed.host)' is not a multicast group: IPv4 groups are 224.0.0.0 to 239.255.255.255, IPv6 groups start with ff (e.g. 239.255.0.1:\(parsed.port)).")
        }
        return address
    }

    private func family(of address: SocketAddress) -> IPLiteral.Family {
        if case .v6 = address { return .v6 }
        return .v4
    }
}
