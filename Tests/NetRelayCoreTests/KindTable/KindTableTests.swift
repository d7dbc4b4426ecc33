import Logging
import NIOCore
import NIOPosix
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// A kind added through the table of kinds goes through every part the four real kinds go
/// through: decoding, check-config's messages, start, STATUS=, the counters, stop.
@Suite("The table of kinds")
struct KindTableTests {
    static let kinds = ListenerKinds.standard.adding(DiscardKind())

    static func messages(_ json: String) -> [String] {
        switch ConfigurationDecoder.decode(json, file: "test.json", kinds: kinds) {
        case .success: return []
        case .failure(let e): return e.issues.map(\.description)
        }
    }

    /// The 1-based column of `needle` in a one-line document.
    static func column(of needle: String, in json: String) -> Int {
        json.distance(from: json.startIndex, to: json.range(of: needle)!.lowerBound) + 1
    }

    @Test("A test-only kind decodes through the table, with its defaults; the standard table does not know it")
    func decode() throws {
        let json = #"{"listeners": [{"name": "sink", "kind": "udp-discard", "listen": "127.0.0.1:9"}]}"#
        let config = try ConfigurationDecoder.decode(json, file: "test.json", kinds: Self.kinds).get()
        #expect(config.listeners == [ListenerSpec(name: "sink", kindSpec: DiscardSpec(listen: try Endpoint.parse("127.0.0.1:9").get()))])
        #expect(config.listeners[0].kindSpec(as: DiscardSpec.self)?.maxDatagramSize == 2048)
        #expect(config.listeners[0].label == "udp-discard \"sink\" on 127.0.0.1:9")
        #expect(config.warnings(file: "test.json").isEmpty)
        let bad = json.replacingOccurrences(of: "127.0.0.1:9", with: "127.0.0.1:9\", \"maxDatagramSize\": \"x")
        #expect(Self.messages(bad) == [
            #"test.json:1:\#(Self.column(of: "\"x\"", in: bad)): listeners[0].maxDatagramSize: expected an integer from 1 to 65507 bytes, got the string "x""#,
        ])
        let standard = ConfigurationDecoder.decode(json, file: "test.json")
        #expect(throws: ConfigurationError.self) { try standard.get() }
    }

    @Test("check-config messages name the new kind: the kinds list, a misspelt kind, an unknown key, a key of another kind")
    func messages() {
        let kindTypo = #"{"listeners": [{"name": "sink", "kind": "udp-discrad", "listen": "127.0.0.1:9"}]}"#
        #expect(Self.messages(kindTypo) == [
            #"test.json:1:\#(Self.column(of: "\"udp-discrad\"", in: kindTypo)): listeners[0].kind: "udp-discrad" is not one of "tcp-echo", "udp-responder", "broadcast-rebroadcaster", "multicast-announcer", "udp-discard"; did you mean "udp-discard"?"#,
        ])
        let keyTypo = #"{"listeners": [{"name": "sink", "kind": "udp-discard", "listen": "127.0.0.1:9", "maxDatagramSiz": 100}]}"#
        #expect(Self.messages(keyTypo) == [
            #"test.json:1:\#(Self.column(of: "\"maxDatagramSiz\"", in: keyTypo)): listeners[0].maxDatagramSiz: unknown key "maxDatagramSiz" in a udp-discard listener; did you mean "maxDatagramSize"?"#,
        ])
        let elsewhere = #"{"listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:7", "maxDatagramSize": 100}]}"#
        #expect(Self.messages(elsewhere) == [
            #"test.json:1:\#(Self.column(of: "\"maxDatagramSize\"", in: elsewhere)): listeners[0].maxDatagramSize: unknown key "maxDatagramSize" in a tcp-echo listener; "maxDatagramSize" is a setting of udp-responder, broadcast-rebroadcaster and udp-discard listeners"#,
        ])
        #expect(Self.messages(#"{"listeners": []}"#) == [
            "test.json:1:15: listeners: the list is empty; add at least one listener (kinds: tcp-echo, udp-responder, broadcast-rebroadcaster, multicast-announcer, udp-discard)",
        ])
    }

    @Test("The kind's warning is placed at its key, file:line:column, like an error")
    func warningWithLocation() throws {
        let json = """
        {"listeners": [
          {"name": "sink", "kind": "udp-discard", "listen": "127.0.0.1:9",
           "maxDatagramSize": 100}
        ]}
        """
        let config = try ConfigurationDecoder.decode(json, file: "test.json", kinds: Self.kinds).get()
        #expect(config.warnings(file: "test.json").map(\.description) == [
            "test.json:3:23: warning: listeners[0].maxDatagramSize: 100 bytes is less than most senders send; longer datagrams are counted as oversize",
        ])
        // Built in code, the configuration has no file positions: the warning names the path only.
        var built = Configuration(listeners: config.listeners)
        built.eventLoopThreads = config.eventLoopThreads
        #expect(built.warnings(file: "x.json").map(\.description) == [
            "x.json: warning: listeners[0].maxDatagramSize: 100 bytes is less than most senders send; longer datagrams are counted as oversize",
        ])
    }

    @Test("Started by the supervisor from the table: it counts datagrams, STATUS= and /metrics show them, stop frees the port")
    func runs() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let json = #"{"listeners": [{"name": "sink", "kind": "udp-discard", "listen": "127.0.0.1:0", "maxDatagramSize": 100}]}"#
        let config = try ConfigurationDecoder.decode(json, file: "test.json", kinds: Self.kinds).get()
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let supervisor = Supervisor(configuration: config, context: ListenerContext(group: group, logger: logger, kinds: Self.kinds))
        try await supervisor.start()
        let snapshot = try #require(await supervisor.listenerSnapshots().first)
        #expect(snapshot.kind == DiscardKind().tag && snapshot.state == .up)
        let port = try #require(Int(snapshot.address.split(separator: ":").last ?? ""))
        #expect(port != 0)

        let client = try await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let to = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        for size in [10, 20, 30, 200] {
            let buffer = client.allocator.buffer(repeating: 0x61, count: size)
            try await client.writeAndFlush(AddressedEnvelope(remoteAddress: to, data: buffer)).get()
        }
        try await client.close()
        // Loopback delivers at once; the bound only keeps a broken build from hanging.
        for _ in 0..<500 where await supervisor.listenerSnapshots().first?.value(.datagramsIn) != 4 {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        #expect(await supervisor.statusLine() == "Serving 1 listener | udp 4 in, 0 out, 1 dropped")
        let metrics = PrometheusExposition.render(DaemonSnapshot(
            version: "test", startTime: 0, process: nil, listeners: await supervisor.listenerSnapshots(), reloads: ReloadFacts(lastTimestamp: 0),
            loopLateness: .empty, notReadyReason: nil, unhealthyReason: nil, statusLine: ""))
        #expect(metrics.contains("netrelayd_datagrams_received_total{listener=\"sink\",kind=\"udp-discard\"} 4\n"))
        #expect(metrics.contains("netrelayd_datagrams_dropped_total{listener=\"sink\",kind=\"udp-discard\",reason=\"oversize\"} 1\n"))
        #expect(!metrics.contains("kind=\"udp-discard\",reason=\"rate_limit\""))

        await supervisor.shutdown()
        #expect(await supervisor.statusLine() == "Serving 0 listeners")
        let again = try await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: port).get()
        try await again.close()
        try await group.shutdownGracefully()
    }

    @Test("A spec whose kind is not in the daemon's table fails to start with that reason, it is not guessed")
    func unregisteredKind() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let spec = ListenerSpec(name: "sink", kindSpec: DiscardSpec(listen: try Endpoint.parse("127.0.0.1:0").get()))
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let context = ListenerContext(group: group, logger: logger)
        let listener = context.kinds.listener(for: spec, context: context)
        await #expect(throws: ListenerStartError.self) { try await listener.start() }
        do {
            try await listener.start()
        } catch {
            #expect("\(error)" == #"Failed to bind udp-discard "sink" to 127.0.0.1:0: the kind "udp-discard" is not in this daemon's table of kinds (tcp-echo, udp-responder, broadcast-rebroadcaster, multicast-announcer)"#)
        }
        try await group.shutdownGracefully()
    }

    @Test("The standard table: one row per kind name, the same rows as the configuration's, and every counter is kept by some kind")
    func standardTable() {
        let names = ListenerKinds.standard.names
        #expect(names == ["tcp-echo", "udp-responder", "broadcast-rebroadcaster", "multicast-announcer"])
        // The configuration target's table (check-config, the fuzzer) has the same rows in the same order.
        #expect(ConfigurationKinds.standard.map(\.name) == names)
        #expect(Set(names).count == names.count)
        let kept = Set(ListenerKinds.standard.all.flatMap(\.counters))
        #expect(Counter.allCases.filter { !kept.contains($0) } == [])
    }
}
