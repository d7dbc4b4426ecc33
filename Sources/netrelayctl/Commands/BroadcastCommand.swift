import ArgumentParser

struct BroadcastCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broadcast",
        abstract: "Listen on a broadcast port, send to the rebroadcaster, print every broadcast heard.",
        discussion: """
            The classic Node.js broadcast client binds the port the rebroadcaster broadcasts to, \
            sends it one datagram, and prints what comes back by broadcast. Against a \
            broadcast-rebroadcaster listening on 127.0.0.1:2003 with target 127.255.255.255:2002:

              $ netrelayctl broadcast --bind 0.0.0.0:2002 --to 127.0.0.1:2003 --send client
              listening on 0.0.0.0:2002
              sent 6 bytes to 127.0.0.1:2003: client
              broadcast from 127.0.0.1:2003 to 127.255.255.255 (27 bytes): Received client data:client

            The socket is bound with SO_REUSEADDR and SO_REUSEPORT, so several probes on one host \
            can share the port and each hears every broadcast, and with SO_BROADCAST. The \
            datagram to --to leaves from that same socket, as in the classic client. Every \
            datagram that reaches the port counts, whoever sent it (other probes' broadcasts \
            too); "to" in the output tells a broadcast (127.255.255.255) from a unicast datagram.

            Broadcast is IPv4 only: for IPv6 use 'netrelayctl listen' with a multicast group.

            Exit status: 0 once --count datagrams were heard; 1 when --timeout passed first (or \
            the bind or send failed); 2 on usage errors.

            JSON events (--json): listening, sent, broadcast, timeout, error; see netrelayctl --help.
            """
    )

    @Option(help: ArgumentHelp(
        "Address and port to listen on: 0.0.0.0:2002 hears broadcasts and unicast, 127.255.255.255:2002 only broadcasts to that address; a unicast address (127.0.0.1:2002) hears no broadcast at all.",
        valueName: "addr:port"
    ))
    var bind: String

    @Option(help: ArgumentHelp("The rebroadcaster to send to, e.g. 127.0.0.1:2003.", valueName: "addr:port"))
    var to: String

    @Option(help: ArgumentHelp("The datagram's text (no newline is added).", valueName: "text"))
    var send: String

    @Option(help: ArgumentHelp("Datagrams to hear before exiting with success.", valueName: "n"))
    var count: Int = 1

    @Option(help: ArgumentHelp("Seconds to wait for them.", valueName: "seconds"))
    var timeout: Double = 5

    @OptionGroup var output: OutputOptions

    func validate() throws {
        let bindAddress = try HostPort.parse(bind, option: "--bind")
        let toAddress = try HostPort.parse(to, option: "--to")
        guard bindAddress.isLiteral else {
            throw ValidationError("--bind '\(bind)' needs an IP address, not a name: e.g. 0.0.0.0:\(bindAddress.port).")
        }
        if bindAddress.isIPv6 || toAddress.isIPv6 {
            throw ValidationError("IPv6 has no broadcast: give IPv4 addresses to --bind and --to, or use 'netrelayctl listen' with an IPv6 multicast group.")
        }
        try OptionCheck.count(count)
        try OptionCheck.seconds(timeout, "--timeout", allowZero: false)
    }

    func run() async throws {
        let out = Output(json: output.json)
        let probe = BroadcastProbe(bind: try HostPort.parse(bind, option: "--bind"), to: try HostPort.parse(to, option: "--to"),
                                   exchange: DatagramExchange(text: send, count: count, timeout: ProbeRunner.time(timeout), output: out))
        try await ProbeRunner.run(output: out) { await probe.run(on: $0) }
    }
}
