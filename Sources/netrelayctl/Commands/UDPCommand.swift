import ArgumentParser

struct UDPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "udp",
        abstract: "Send a UDP datagram, print each reply with its sender's address.",
        discussion: """
            The classic Node.js UDP client sends 'Hello' to port 2001, prints the reply and the \
            sender's address (rinfo), and closes. Against a udp-responder listener:

              $ netrelayctl udp 127.0.0.1:2001 --send Hello
              sent 5 bytes to 127.0.0.1:2001: Hello
              reply from 127.0.0.1:2001 (25 bytes): confirmation messageHello

            The socket is connected to HOST:PORT, so when nothing listens there the kernel's ICMP \
            port unreachable ends the probe at once as a refusal instead of a timeout; the price \
            is that only replies from HOST:PORT itself are seen. A udp-responder replies once per \
            datagram: --count N sends the datagram N times and waits for N replies (a responder's \
            rate limit shows up as missing replies).

            Exit status: 0 when --count replies arrived within --timeout; 1 on refusal or \
            timeout (stderr says how many replies came); 2 on usage errors.

            JSON events (--json): sent, reply, timeout, error; see netrelayctl --help.
            """
    )

    @Argument(help: ArgumentHelp("The responder: 127.0.0.1:2001, [::1]:2001 or localhost:2001.", valueName: "host:port"))
    var target: String

    @Option(help: ArgumentHelp("The datagram's text (no newline is added).", valueName: "text"))
    var send: String

    @Option(help: ArgumentHelp("Send the datagram this many times and wait for as many replies.", valueName: "n"))
    var count: Int = 1

    @Option(help: ArgumentHelp("Seconds to wait for the replies.", valueName: "seconds"))
    var timeout: Double = 5

    @OptionGroup var output: OutputOptions

    func validate() throws {
        _ = try HostPort.parse(target, option: "HOST:PORT")
        try OptionCheck.count(count)
        try OptionCheck.seconds(timeout, "--timeout", allowZero: false)
    }

    func run() async throws {
        let out = Output(json: output.json)
        let probe = UDPProbe(target: try HostPort.parse(target, option: "HOST:PORT"),
                             exchange: DatagramExchange(text: send, count: count, timeout: ProbeRunner.time(timeout), output: out))
        try await ProbeRunner.run(output: out) { await probe.run(on: $0) }
    }
}
