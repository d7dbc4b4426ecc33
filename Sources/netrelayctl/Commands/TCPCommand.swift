import ArgumentParser

struct TCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcp",
        abstract: "Connect over TCP, send text, print what comes back as it arrives.",
        discussion: """
            The classic Node.js TCP client connects, writes 'Hello!', and ten seconds later \
            calls end('Bye'): writes 'Bye' and sends FIN. Against a tcp-echo listener:

              $ netrelayctl tcp 127.0.0.1:2000 --send 'Hello!' --send Bye \\
                    --interval 10 --end-after 0 --half-close
              connected to 127.0.0.1:2000 from 127.0.0.1:40112
              sent 6 bytes to 127.0.0.1:2000: Hello!
              received 20 bytes: Confirm data: Hello!
              sent 3 bytes to 127.0.0.1:2000: Bye
              sent FIN (write side shut down); reading until 127.0.0.1:2000 closes
              received 17 bytes: Confirm data: Bye
              127.0.0.1:2000 closed the connection (37 bytes received in all)

            What happens, in order: connect (at most --timeout seconds); send each --send, \
            --interval seconds apart; keep reading --end-after seconds after the last one; then \
            end. Without --half-close the probe closes the connection. With --half-close it shuts \
            down only its write side (FIN) and reads on until the server closes (at most --timeout \
            seconds): a listener with "allowHalfOpen": true echoes what is still queued, then closes.

            Exit status: 0 when the connection was made, every --send went out, something came \
            back (if anything was sent) and, with --half-close, the server closed in time. 1 when \
            the connection was refused or reset, timed out, got no reply, or was closed by the \
            server before the probe was done; stderr says which. 2 on usage errors.

            JSON events (--json): connected, sent, data (one per chunk read: TCP has no message \
            boundaries), half-closed, closed, timeout, error; see netrelayctl --help.
            """
    )

    @Argument(help: ArgumentHelp("The server: 127.0.0.1:2000, [::1]:2000 or localhost:2000.", valueName: "host:port"))
    var target: String

    @Option(name: .customLong("send"), help: ArgumentHelp(
        "Text to send once connected; repeat for several writes, sent in order (no newline is added).",
        valueName: "text"
    ))
    var sends: [String] = []

    @Option(help: ArgumentHelp("Seconds between two --send writes.", valueName: "seconds"))
    var interval: Double = 0

    @Option(name: .customLong("end-after"), help: ArgumentHelp(
        "Seconds to keep reading after the last --send (or after connecting, without --send) before ending the connection.",
        valueName: "seconds"
    ))
    var endAfter: Double = 1

    @Flag(name: .customLong("half-close"), help: """
        End with FIN (shutdown of the write side only) and keep reading until the server closes, \
        to see allowHalfOpen at work; without it the probe closes the connection.
        """)
    var halfClose = false

    @Option(help: ArgumentHelp(
        "Seconds allowed to connect and, with --half-close, for the server to close after the FIN.",
        valueName: "seconds"
    ))
    var timeout: Double = 5

    @OptionGroup var output: OutputOptions

    func validate() throws {
        _ = try HostPort.parse(target, option: "HOST:PORT")
        try OptionCheck.seconds(interval, "--interval", allowZero: true)
        try OptionCheck.seconds(endAfter, "--end-after", allowZero: true)
        try OptionCheck.seconds(timeout, "--timeout", allowZero: false)
        if interval > 0 && sends.count < 2 {
            throw ValidationError("--interval spaces out several --send texts; give at least two --send, or drop --interval.")
        }
    }

    func run() async throws {
        let out = Output(json: output.json)
        let script = TCPScript(sends: sends, interval: ProbeRunner.time(interval), endAfter: ProbeRunner.time(endAfter), halfClose: halfClose)
        let probe = TCPProbe(target: try HostPort.parse(target, option: "HOST:PORT"), script: script, timeout: ProbeRunner.time(timeout), output: out)
        try await ProbeRunner.run(output: out) { await probe.run(on: $0) }
    }
}
