import ArgumentParser

/// `netrelayctl`: the operator's probe for a netrelayd deployment, one subcommand per classic
/// Node.js client (TCP, UDP, broadcast, multicast).
@main
struct NetRelayCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netrelayctl",
        abstract: "Probe a netrelayd deployment from a shell: TCP echo, UDP reply, broadcast, multicast.",
        discussion: """
            Each subcommand is one of the classic Node.js network clients, pointed at a \
            running relay. Addresses are HOST:PORT: 127.0.0.1:2000, [::1]:2000 or \
            localhost:2000.

              netrelayctl tcp 127.0.0.1:2000 --send 'Hello!' --half-close
              netrelayctl udp 127.0.0.1:2001 --send Hello
              netrelayctl broadcast --bind 0.0.0.0:2002 --to 127.0.0.1:2003 --send hi
              netrelayctl listen 239.255.0.1:8088 --interface lo --count 3 --stats
              netrelayctl status --url http://127.0.0.1:9477

            EXIT STATUS
              0  the probe got what it waited for
              1  it did not (refused, reset, timed out, no reply); stderr says why
                 in one line, e.g. "netrelayctl: connection refused by 127.0.0.1:2000"
              2  the command line is wrong; stderr says what to change
              (status: 0 ready, 1 not ready, 2 the daemon cannot be reached)

            JSON OUTPUT (--json): one object per line on stdout, printed as the event \
            happens. Every object has "event"; addresses are "IP:PORT" strings; "text" \
            is the bytes decoded as UTF-8 (invalid bytes become U+FFFD); "bytes" is the \
            exact size; times are seconds.
              connected     {peer, local}                           tcp
              sent          {to, text, bytes}                       tcp, udp, broadcast
              data          {text, bytes}, one per chunk read       tcp
              half-closed   {peer}, when our FIN went out           tcp
              closed        {by: "peer" or "probe", peer, received} tcp
              reply         {from, text, bytes}                     udp
              listening     {local}                                 broadcast
              broadcast     {from, to?, text, bytes}                broadcast
                            to: the address it was sent to (127.255.255.255)
              joined        {group, interface?, interfaceAddress?, local}  listen
              announcement  {from, text, bytes, seq?}               listen
                            seq: from announcements in the json format
              stats         {count, senders, duration, meanInterval?, missing?,
                             gaps?: [{from, after, next, missing}], outOfOrder?}
                            missing, gaps, outOfOrder: only when there is a seq
              timeout       {after, waitingFor}                     then exit 1
              error         {reason}                                then exit 1
            Keys may be added in later versions: ignore the ones you do not know.
            """,
        version: "0.1.0",
        subcommands: [TCPCommand.self, UDPCommand.self, BroadcastCommand.self, ListenCommand.self, StatusCommand.self]
    )

    /// ArgumentParser's own `main()`, except for the exit status: usage errors exit 2 (not
    /// EX_USAGE, 64) and a failed probe prints one line, `netrelayctl: <reason>`, and exits 1.
    static func main() async {
        do {
            var command = try await asyncParseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as ProbeFailure {
            StandardStream.err("netrelayctl: \(failure.reason)\n")
            exit(withError: ExitCode.failure)
        } catch {
            if exitCode(for: error) == .validationFailure {
                StandardStream.err(fullMessage(for: error) + "\n")
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}
