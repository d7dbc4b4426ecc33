import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// netrelayctl against the real netrelayd, configured as in the daemon's contract example
/// (ports from `Ports` instead of 2000–2003 and 8088).
@Suite("netrelayctl against netrelayd")
struct DaemonTests {
    @Test("tcp-echo with allowHalfOpen: the classic client sees both echoes, then the daemon's close", arguments: ["127.0.0.1", "::1"])
    func tcpEchoHalfOpen(host: String) async throws {
        let port = Ports.free()
        let listen = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let daemon = try await RelayDaemon.start([
            #"{"name": "echo", "kind": "tcp-echo", "listen": "\#(listen)", "replyPrefix": "Confirm data: ", "allowHalfOpen": true}"#,
        ])
        let r = try await ctl("tcp", listen, "--send", "Hello!", "--send", "Bye", "--interval", "0.3", "--end-after", "0", "--half-close", "--json")
        daemon.stop()

        #expect(r.status == 0, "stderr: \(r.stderr)\ndaemon: \(daemon.log)")
        #expect(r.events("connected").first?["peer"] as? String == listen)
        let echoed = r.events("data").compactMap { $0["text"] as? String }.joined()
        #expect(echoed == "Confirm data: Hello!Confirm data: Bye")
        let closed = try #require(r.events("closed").first)
        #expect(closed["by"] as? String == "peer")
        #expect(closed["received"] as? Int == echoed.utf8.count)
        #expect(r.events.last?["event"] as? String == "closed")
    }

    @Test("tcp-echo without allowHalfOpen: our FIN makes the daemon close; exit 0")
    func tcpEchoNoHalfOpen() async throws {
        let port = Ports.free()
        let daemon = try await RelayDaemon.start([
            #"{"name": "echo", "kind": "tcp-echo", "listen": "127.0.0.1:\#(port)", "replyPrefix": "Confirm data: ", "allowHalfOpen": false}"#,
        ])
        let r = try await ctl("tcp", "127.0.0.1:\(port)", "--send", "Hello!", "--end-after", "0.5", "--half-close", "--timeout", "10", "--json")
        daemon.stop()

        #expect(r.status == 0, "stderr: \(r.stderr)\ndaemon: \(daemon.log)")
        #expect(r.events("data").compactMap { $0["text"] as? String }.joined() == "Confirm data: Hello!")
        #expect(r.events("closed").first?["by"] as? String == "peer")
    }

    @Test("tcp-echo over its connection limit accepts and closes: exit 1 with the reason")
    func tcpOverLimit() async throws {
        let port = Ports.free()
        let daemon = try await RelayDaemon.start([
            #"{"name": "echo", "kind": "tcp-echo", "listen": "127.0.0.1:\#(port)", "maxConnections": 1}"#,
        ])
        let holder = try startCtl("tcp", "127.0.0.1:\(port)", "--send", "hold", "--end-after", "30", "--json")
        let holding = await holder.waitForOutput(seconds: 10) { $0.contains("\"event\":\"data\"") }
        #expect(holding, "the first connection got no echo")
        // Nothing sent: data sent to a socket the daemon already closed would come back as a reset.
        let r = try await ctl("tcp", "127.0.0.1:\(port)", "--end-after", "5")
        holder.signal(SIGTERM)
        _ = await holder.wait(seconds: 10)
        daemon.stop()

        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(r.reason == "netrelayctl: 127.0.0.1:\(port) accepted the connection and closed it without sending anything (over its connection limit, or denied?)")
    }

    @Test("a port netrelayd does not serve: connection refused, exit 1")
    func tcpRefused() async throws {
        let port = Ports.free()
        let other = Ports.free()
        let daemon = try await RelayDaemon.start([
            #"{"name": "echo", "kind": "tcp-echo", "listen": "127.0.0.1:\#(port)"}"#,
        ])
        let r = try await ctl("tcp", "127.0.0.1:\(other)", "--send", "x")
        daemon.stop()

        #expect(r.status == 1)
        #expect(r.reason == "netrelayctl: connection refused by 127.0.0.1:\(other)")
    }

    @Test("udp-responder: the classic client's reply and rinfo")
    func udpResponder() async throws {
        let port = Ports.free()
        let daemon = try await RelayDaemon.start([
            #"{"name": "responder", "kind": "udp-responder", "listen": "127.0.0.1:\#(port)", "replyPrefix": "confirmation message"}"#,
        ])
        let r = try await ctl("udp", "127.0.0.1:\(port)", "--send", "Hello", "--count", "2", "--json")
        daemon.stop()

        #expect(r.status == 0, "stderr: \(r.stderr)\ndaemon: \(daemon.log)")
        let replies = r.events("reply")
        #expect(replies.count == 2)
        #expect(replies.allSatisfy { $0["from"] as? String == "127.0.0.1:\(port)" && $0["text"] as? String == "confirmation messageHello" })
    }

    @Test("udp-responder drops a datagram over maxDatagramSize: timeout, exit 1")
    func udpTimeout() async throws {
        let port = Ports.free()
        let daemon = try await RelayDaemon.start([
            #"{"name": "responder", "kind": "udp-responder", "listen": "127.0.0.1:\#(port)", "maxDatagramSize": 4}"#,
        ])
        let r = try await ctl("udp", "127.0.0.1:\(port)", "--send", "too long", "--timeout", "0.5", "--json")
        daemon.stop()

        #expect(r.status == 1)
        #expect(r.reason == "netrelayctl: timed out after 0.5 s: 0 of 1 replies from 127.0.0.1:\(port)")
        #expect(r.events("timeout").count == 1)
    }

    @Test("broadcast-rebroadcaster: the classic broadcast client hears Received client data:")
    func rebroadcaster() async throws {
        let listenPort = Ports.free()
        let relayPort = Ports.free()
        let daemon = try await RelayDaemon.start([
            #"{"name": "rebroadcast", "kind": "broadcast-rebroadcaster", "listen": "127.0.0.1:\#(relayPort)", "target": "127.255.255.255:\#(listenPort)", "prefix": "Received client data:"}"#,
        ])
        let r = try await ctl("broadcast", "--bind", "0.0.0.0:\(listenPort)", "--to", "127.0.0.1:\(relayPort)", "--send", "client", "--json")
        daemon.stop()

        #expect(r.status == 0, "stderr: \(r.stderr)\ndaemon: \(daemon.log)")
        let heard = try #require(r.events("broadcast").first)
        #expect(heard["text"] as? String == "Received client data:client")
        #expect(heard["to"] as? String == "127.255.255.255")
    }

    @Test("broadcast-rebroadcaster ignoring our source (sourceAllow): timeout, exit 1")
    func rebroadcasterTimeout() async throws {
        let listenPort = Ports.free()
        let relayPort = Ports.free()
        let daemon = try await RelayDaemon.start([
            #"{"name": "rebroadcast", "kind": "broadcast-rebroadcaster", "listen": "127.0.0.1:\#(relayPort)", "target": "127.255.255.255:\#(listenPort)", "sourceAllow": ["192.0.2.0/24"]}"#,
        ])
        let r = try await ctl("broadcast", "--bind", "0.0.0.0:\(listenPort)", "--to", "127.0.0.1:\(relayPort)", "--send", "client", "--timeout", "0.5", "--json")
        daemon.stop()

        #expect(r.status == 1)
        #expect(r.reason == "netrelayctl: timed out after 0.5 s: heard 0 of 1 broadcasts on 0.0.0.0:\(listenPort) after sending to 127.0.0.1:\(relayPort)")
        #expect(r.events("timeout").first?["waitingFor"] as? String == "broadcast")
    }

    @Test(
        "multicast-announcer, json format on lo: every announcement has seq, stats without gaps",
        .enabled(if: LoopbackMulticast.works, "IPv4 multicast over lo does not work on this kernel")
    )
    func multicastAnnouncer() async throws {
        let port = Ports.free()
        let group = "239.255.\(Int.random(in: 1...254)).\(Int.random(in: 1...254))"
        let daemon = try await RelayDaemon.start([
            #"{"name": "time", "kind": "multicast-announcer", "group": "\#(group)", "port": \#(port), "interval": 0.1, "interface": "lo", "format": "json"}"#,
        ])
        let r = try await ctl("listen", "\(group):\(port)", "--interface", "lo", "--count", "3", "--stats", "--timeout", "15", "--json")
        daemon.stop()

        #expect(r.status == 0, "stderr: \(r.stderr)\ndaemon: \(daemon.log)")
        let announcements = r.events("announcement")
        #expect(announcements.count == 3)
        #expect(announcements.allSatisfy { ($0["text"] as? String)?.contains(#""listener":"time""#) == true && $0["seq"] is Int })
        let stats = try #require(r.events("stats").first)
        #expect(stats["count"] as? Int == 3)
        #expect(stats["missing"] as? Int == 0)
    }
}
