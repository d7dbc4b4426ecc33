import NIOCore
import NIOEmbedded
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// `targets` and `listenInterfaces` as check-config reads them.
@Suite("Relay targets: configuration")
struct RelayTargetsConfigurationTests {
    static func relay(_ keys: String, listen: String = "0.0.0.0:2002") -> String {
        "{\"listeners\": [{\"name\": \"r\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"\(listen)\", \(keys)}]}"
    }

    func spec(_ json: String) throws -> BroadcastSpec {
        let config = try ConfigurationDecoder.decode(json, file: "test.json").get()
        guard let b = config.listeners[0].kindSpec(as: BroadcastSpec.self) else { throw NotARebroadcaster() }
        return b
    }

    func errors(_ json: String) -> [String] {
        switch ConfigurationDecoder.decode(json, file: "test.json") {
        case .success: return ["accepted"]
        case .failure(let e): return e.issues.map(\.description)
        }
    }

    @Test("Both forms of entry, in order; the first is `target`; a relay may send on its own port")
    func forms() throws {
        let b = try spec(Self.relay(#""targets": ["10.0.2.255:2002", {"interface": "eth3", "port": 2002}], "listenInterfaces": ["eth1", "eth2"]"#))
        #expect(b.targets == [.address(Endpoint(address: IPAddress("10.0.2.255")!, port: 2002)), .interface(name: "eth3", port: 2002)])
        #expect(b.target == b.targets[0])
        #expect(b.listenInterfaces == ["eth1", "eth2"])
        #expect(b.prefix == "" && b.relayMark == 5)
        let l = try spec(Self.relay(#""targets": [{"interface": "eth1", "port": 2002, "broadcast": "limited"}, {"interface": "eth2", "port": 2002, "broadcast": "subnet"}]"#))
        #expect(l.targets == [.limitedBroadcast(interface: "eth1", port: 2002), .interface(name: "eth2", port: 2002)])
        #expect(errors(Self.relay(#""targets": [{"interface": "eth1", "port": 2002, "broadcast": "all"}]"#)).count == 1)
    }

    @Test("The one-target keys are the one-element form")
    func oneTarget() throws {
        let a = try spec(Self.relay(#""target": "10.0.2.255:2003""#))
        #expect(a.targets == [a.target])
        let i = try spec(Self.relay(#""targetInterface": "eth1", "targetPort": 2003"#))
        #expect(i.targets == [.interface(name: "eth1", port: 2003)])
        #expect(i.listenInterfaces.isEmpty)
    }

    @Test("Conflicting keys: each one-target key next to targets is reported where it is, with the fix")
    func conflicts() {
        #expect(errors(Self.relay(#""targets": ["10.0.2.255:2003"], "target": "10.0.3.255:2003", "targetInterface": "eth1", "targetPort": 2003"#)) == [
            #"test.json:1:133: listeners[0].target: "target" conflicts with "targets": give every target in "targets", or one "target" (or "targetInterface" with "targetPort") without "targets"; move its address into the list"#,
            #"test.json:1:171: listeners[0].targetInterface: "targetInterface" conflicts with "targets": give every target in "targets", or one "target" (or "targetInterface" with "targetPort") without "targets"; write it in the list as {"interface": NAME, "port": PORT}"#,
            #"test.json:1:193: listeners[0].targetPort: "targetPort" conflicts with "targets": give every target in "targets", or one "target" (or "targetInterface" with "targetPort") without "targets"; put the port in the list's {"interface": NAME, "port": PORT} entry"#,
        ])
    }

    @Test("Bad entries: each reported at its place in the list")
    func badEntries() {
        #expect(errors(Self.relay(#""targets": []"#)) == [
            #"test.json:1:102: listeners[0].targets: the list is empty; give at least one target, e.g. "targets": ["192.168.56.255:2002", {"interface": "eth1", "port": 2002}]"#,
        ])
        #expect(errors(Self.relay(#""targets": "10.0.2.255:2003""#)) == [
            #"test.json:1:102: listeners[0].targets: expected a list of targets, got the string "10.0.2.255:2003"; e.g. "targets": ["192.168.56.255:2002", {"interface": "eth1", "port": 2002}]"#,
        ])
        #expect(errors(Self.relay(#""targets": ["239.1.2.3:2003", {"interface": "eth1"}, {"interface": "eth1", "port": 2003, "prot": 1}, 7, "10.0.2.255"]"#)) == [
            #"test.json:1:103: listeners[0].targets[0]: 239.1.2.3 is a multicast group, not a broadcast address; use a multicast-announcer listener for multicast"#,
            #"test.json:1:121: listeners[0].targets[1]: missing required key "port": an integer from 1 to 65535, e.g. "port": 2002"#,
            #"test.json:1:180: listeners[0].targets[2].prot: unknown key "prot" in a target (an interface target has "interface", "port" and "broadcast"); did you mean "port"?"#,
            #"test.json:1:192: listeners[0].targets[3]: expected an address:port such as "192.168.56.255:2002" or {"interface": "eth1", "port": 2002}, got the number 7"#,
            #"test.json:1:195: listeners[0].targets[4]: "10.0.2.255" has no port; expected an IPv4 address and port such as "192.0.2.255:2002""#,
        ])
        #expect(errors(Self.relay(#""targets": [{"interface": "eth1", "port": 2003}, {"interface": "eth1", "port": 2003}]"#)) == [
            #"test.json:1:140: listeners[0].targets[1]: broadcast address of eth1, port 2003 is already listeners[0].targets[0]; every datagram would go there twice; remove one"#,
        ])
    }

    @Test("listenInterfaces: a list of interface names, not empty, none twice")
    func listenInterfaces() {
        #expect(errors(Self.relay(#""targets": ["10.0.2.255:2003"], "listenInterfaces": []"#)) == [
            #"test.json:1:143: listeners[0].listenInterfaces: the list is empty, which would accept no datagram at all; list the interfaces to relay from, or remove the key to accept every interface"#,
        ])
        #expect(errors(Self.relay(#""targets": ["10.0.2.255:2003"], "listenInterfaces": "eth1""#)) == [
            #"test.json:1:143: listeners[0].listenInterfaces: expected a list; write ["eth1"]"#,
        ])
        #expect(errors(Self.relay(#""targets": ["10.0.2.255:2003"], "listenInterfaces": ["eth1", "eth1"]"#)) == [
            #"test.json:1:143: listeners[0].listenInterfaces: item 1: "eth1" is listed twice"#,
        ])
    }

    @Test("Loops: every target is a source of edges; the error points at the entry that closes the loop")
    func loops() {
        // "a" reaches "b" through its second target only.
        let json = """
        {"listeners": [
          {"name": "a", "kind": "broadcast-rebroadcaster", "listen": "0.0.0.0:2001", "targets": ["10.9.9.255:2005", "127.255.255.255:2002"]},
          {"name": "b", "kind": "broadcast-rebroadcaster", "listen": "0.0.0.0:2002", "target": "127.255.255.255:2001"}
        ]}
        """
        #expect(errors(json) == [
            #"test.json:2:109: listeners[0].targets[1]: these listeners form a loop: "a" sends to 127.255.255.255:2002 and "b" hears it on 0.0.0.0:2002; "b" sends to 127.255.255.255:2001 and "a" hears it on 0.0.0.0:2001; every datagram would go round for ever, one more prefix each pass; point a target at a port no listener in the loop listens on, or set "allowLoop": true on one of "a" or "b" if the relay mark and the rate limits are to break it"#,
        ])
        let first = BroadcastSpec.Target.address(Endpoint(address: IPAddress("10.9.9.255")!, port: 2005))
        let nodes = [
            BroadcastSpec(listen: Endpoint(address: .v4(0), port: 2001), targets: [first, .interface(name: "eth1", port: 2002)]).relay,
            UDPResponderSpec(listen: Endpoint(address: .v4(0), port: 2002)).relay,
        ]
        #expect(RelayLoops.edges(nodes) == [[1], [0]])
        #expect(RelayLoops.loops(nodes) == [[0, 1]])
        // Only the first target: no edge.
        #expect(RelayLoops.edges([BroadcastSpec(listen: Endpoint(address: .v4(0), port: 2001), target: first).relay, nodes[1]]) == [[], []])
    }
}

@Suite("Relay targets: resolution and the ingress rule")
struct RelayTargetsResolutionTests {
    let interfaces = [
        InterfaceAddress(interface: "lo", address: IPAddress("127.0.0.1")!, prefixLength: 8, broadcast: nil, isLoopback: true),
        InterfaceAddress(interface: "eth1", address: IPAddress("10.0.1.254")!, prefixLength: 24, broadcast: IPAddress("10.0.1.255")!),
        InterfaceAddress(interface: "eth2", address: IPAddress("10.0.2.254")!, prefixLength: 24, broadcast: IPAddress("10.0.2.255")!),
        InterfaceAddress(interface: "eth3", address: IPAddress("10.0.3.254")!, prefixLength: 24, broadcast: IPAddress("10.0.3.255")!, isUp: false),
        InterfaceAddress(interface: "eth4", address: IPAddress("fe80::4")!, prefixLength: 64, broadcast: nil),
    ]
    static let index = ["lo": 1, "eth1": 11, "eth2": 12, "eth3": 13, "eth4": 14]

    func resolve(_ targets: [BroadcastSpec.Target]) -> RelayTargetResolution {
        BroadcastTargetResolver.resolveAll(targets, listen: Endpoint(address: .v4(0), port: 2002), interfaces: interfaces) { Self.index[$0] ?? 0 }
    }

    @Test("Interface targets: broadcast address, pinned to the interface; down, IPv6-only and missing interfaces are skipped with why")
    func interfaces_() {
        let r = resolve([.interface(name: "eth1", port: 2002), .interface(name: "eth3", port: 2002), .interface(name: "eth4", port: 2002),
                         .interface(name: "eth9", port: 2002), .interface(name: "eth2", port: 2002)])
        #expect(r.served.map(\.label) == ["eth1:2002", "eth2:2002"])
        #expect(r.served.map(\.endpoint.description) == ["10.0.1.255:2002", "10.0.2.255:2002"])
        #expect(r.served.map(\.sendInterfaceIndex) == [11, 12])
        #expect(r.skipped.map(\.label) == ["eth3:2002", "eth4:2002", "eth9:2002"])
        #expect(r.skipped.map(\.reason) == [
            "interface \"eth3\" is down",
            "interface \"eth4\" has no IPv4 address, so no broadcast address",
            "no interface named \"eth9\" (this host has: lo, eth1, eth2, eth3, eth4)",
        ])
    }

    @Test("A limited-broadcast target: 255.255.255.255, pinned to its interface (IP_PKTINFO); an IPv6-only interface is skipped")
    func limited() {
        let r = resolve([.limitedBroadcast(interface: "eth2", port: 2002), .limitedBroadcast(interface: "eth4", port: 2002)])
        #expect(r.served.map(\.label) == ["limited@eth2:2002"])
        #expect(r.served.map(\.endpoint.description) == ["255.255.255.255:2002"])
        #expect(r.served.map(\.sendInterfaceIndex) == [12])
        #expect(r.skipped.map(\.reason) == ["interface \"eth4\" has no IPv4 address to send a broadcast from"])
    }

    @Test("Address targets: the interface that owns the subnet, not pinned; the limited broadcast belongs to none")
    func addresses() {
        let r = resolve([.address(Endpoint(address: IPAddress("10.0.2.255")!, port: 2002)), .address(Endpoint(address: IPAddress("10.0.1.7")!, port: 2002)),
                         .address(Endpoint(address: IPAddress("255.255.255.255")!, port: 2002)), .address(Endpoint(address: IPAddress("127.255.255.255")!, port: 2002))])
        #expect(r.served.map(\.interfaceIndex) == [12, 11, 0, 1])
        #expect(r.served.map(\.sendInterfaceIndex) == [0, 0, 0, 0])
        #expect(r.skipped.isEmpty)
    }

    @Test("One target keeps its old behaviour: a down interface is still used")
    func singleTarget() {
        let r = BroadcastTargetResolver.resolveAll([.interface(name: "eth3", port: 2002)], listen: Endpoint(address: .v4(0), port: 2001),
                                                   interfaces: interfaces, skipDown: false) { Self.index[$0] ?? 0 }
        #expect(r.served.map(\.endpoint.description) == ["10.0.3.255:2002"])
    }

    @Test("Not back out of the ingress interface: only for a broadcast, only to the port it came to, only when both interfaces are known")
    func ingressRule() {
        // A broadcast from eth1 to port 2002: not to eth1:2002, but to eth2:2002 and to eth1:2003.
        #expect(IngressRule.mustSkip(targetInterface: 11, targetPort: 2002, ingress: 11, arrivedAsBroadcast: true, arrivalPort: 2002))
        #expect(!IngressRule.mustSkip(targetInterface: 12, targetPort: 2002, ingress: 11, arrivedAsBroadcast: true, arrivalPort: 2002))
        #expect(!IngressRule.mustSkip(targetInterface: 11, targetPort: 2003, ingress: 11, arrivedAsBroadcast: true, arrivalPort: 2002))
        // Sent to our own address: nobody else heard it; the classic rebroadcaster serves its own subnet.
        #expect(!IngressRule.mustSkip(targetInterface: 11, targetPort: 2002, ingress: 11, arrivedAsBroadcast: false, arrivalPort: 2002))
        // Unknown ingress or unknown target interface (255.255.255.255 by route): sent.
        #expect(!IngressRule.mustSkip(targetInterface: 11, targetPort: 2002, ingress: nil, arrivedAsBroadcast: true, arrivalPort: 2002))
        #expect(!IngressRule.mustSkip(targetInterface: 0, targetPort: 2002, ingress: 11, arrivedAsBroadcast: true, arrivalPort: 2002))
    }
}

@Suite("Relay targets: the handler")
struct RelayTargetsHandlerTests {
    static let listen = Endpoint(address: .v4(0), port: 2002)

    struct Harness {
        let channel = EmbeddedChannel()
        let stats = ListenerStats()
        let table = RelayTargetTable()
        let handler: RebroadcastHandler
        let entries: [DestinationCounter]

        init(listenInterfaces: Set<Int>? = nil) throws {
            var spec = BroadcastSpec(listen: RelayTargetsHandlerTests.listen, targets: [.interface(name: "eth1", port: 2002), .interface(name: "eth2", port: 2002), .interface(name: "eth3", port: 2002)])
            spec.prefix = ""
            let targets = [(11, "10.0.1.255"), (12, "10.0.2.255"), (13, "10.0.3.255")].enumerated().map { k, t in
                RelayTarget(label: "eth\(k + 1):2002", endpoint: Endpoint(address: IPAddress(t.1)!, port: 2002), address: address(t.1, 2002), interfaceIndex: t.0, pinned: true)
            }
            entries = table.set(targets.map { ($0.label, $0.endpoint.description, nil) })
            var setup = RebroadcastSetup(spec, targets: targets, counters: entries, ownAddresses: [IPAddress("10.0.1.254")!, IPAddress("10.0.2.254")!, IPAddress("10.0.3.254")!])
            setup.broadcastDestinations = [IPAddress("255.255.255.255")!, IPAddress("10.0.1.255")!, IPAddress("10.0.2.255")!, IPAddress("10.0.3.255")!]
            setup.acceptedInterfaces = listenInterfaces
            handler = RebroadcastHandler(setup: setup, stats: stats, logger: RecordedLog().logger)
            channel.localAddress = address("0.0.0.0", 2002)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: address("10.0.1.99", 9)).wait()
        }

        func exchange(_ text: String, from ip: String, to destination: String, ingress: Int) throws -> [(to: SocketAddress, text: String)] {
            let info = NIOPacketInfo(destinationAddress: address(destination, 2002), interfaceIndex: ingress)
            try channel.writeInbound(AddressedEnvelope(remoteAddress: address(ip, 40000), data: ByteBuffer(string: text),
                                                       metadata: .init(ecnState: .transportNotCapable, packetInfo: info)))
            return try channel.sentDatagrams()
        }
    }

    @Test("A broadcast from eth1 goes, unchanged, to eth2 and eth3 only; counted per target")
    func notBackOut() throws {
        let h = try Harness()
        let out = try h.exchange("hello", from: "10.0.1.5", to: "255.255.255.255", ingress: 11)
        #expect(out.map { "\($0.to.ipAddress!) \($0.text)" } == ["10.0.2.255 hello", "10.0.3.255 hello"])
        _ = try h.exchange("again", from: "10.0.1.5", to: "10.0.1.255", ingress: 11)
        #expect(h.entries.map(\.sent) == [0, 2, 2])
        #expect(h.stats.value(.skippedIngressTarget) == 2 && h.stats.value(.datagramsOut) == 4)
        let relay = ListenerSpec(name: "r", kindSpec: BroadcastSpec(listen: RelayTargetsHandlerTests.listen, target: .interface(name: "eth1", port: 2002)))
        #expect(h.table.extras(of: relay).statistics == ["targets: eth1:2002 (10.0.1.255:2002) sent=0 errors=0, eth2:2002 (10.0.2.255:2002) sent=2 errors=0, eth3:2002 (10.0.3.255:2002) sent=2 errors=0"])
    }

    @Test("A datagram sent to the relay's own address goes to every target, its own subnet too")
    func unicastToEveryTarget() throws {
        let h = try Harness()
        #expect(try h.exchange("x", from: "10.0.1.5", to: "10.0.1.254", ingress: 11).count == 3)
    }

    @Test("listenInterfaces: another ingress interface is dropped and counted")
    func listenInterfaces() throws {
        let h = try Harness(listenInterfaces: [11])
        #expect(try h.exchange("x", from: "10.0.2.5", to: "10.0.2.255", ingress: 12).isEmpty)
        #expect(h.stats.value(.droppedInterfaceNotListed) == 1)
        #expect(try h.exchange("y", from: "10.0.1.5", to: "10.0.1.255", ingress: 11).count == 2)
    }

    @Test("Per-target counters: a failed datagram counts against its target only")
    func perTargetErrors() {
        var outbox = DatagramOutbox()
        let table = RelayTargetTable()
        let e = table.set([("a", "1", nil), ("b", "2", nil)])
        for k in 0..<4 {
            outbox.send(ByteBuffer(string: "x"), prefixedWith: nil, to: address("10.0.0.255", 1), allocator: ByteBufferAllocator(), target: e[k % 2])
        }
        outbox.countTargets(failed: [1])
        #expect(e.map(\.sent) == [2, 1] && e.map(\.errors) == [0, 1])
        // Entries survive a reload by label; a new label starts at zero.
        let again = table.set([("b", "2", nil), ("c", nil, "interface \"c\" is down")])
        #expect(again[0] === e[1] && again[1].sent == 0)
        let relay = ListenerSpec(name: "r", kindSpec: BroadcastSpec(listen: RelayTargetsHandlerTests.listen, target: .interface(name: "b", port: 2)))
        #expect(table.extras(of: relay).statusParts == ["broadcast-rebroadcaster \"r\" on 0.0.0.0:2002 skips c (interface \"c\" is down)"])
    }
}
struct NotARebroadcaster: Error {}

@Suite("Relay targets: metrics and /status.json")
struct RelayTargetsMetricsTests {
    static let snapshot: DaemonSnapshot = {
        var relay = ListenerSnapshot(name: "relay", kind: BroadcastKind().tag, address: "0.0.0.0:2002", state: .up)
        relay.counters[Counter.datagramsOut.rawValue] = 5
        relay.counters[Counter.skippedIngressTarget.rawValue] = 3
        let table = RelayTargetTable()
        let entries = table.set([("eth1:2002", "10.0.1.255:2002", nil), ("limited@eth2:2002", "255.255.255.255:2002", nil),
                                 ("eth3:2002", nil, "interface \"eth3\" is down")])
        entries[0].addSent(2)
        entries[1].addSent(3)
        entries[1].addError(1)
        relay.extras = table.extras(of: ListenerSpec(name: "relay", kindSpec: BroadcastSpec(listen: Endpoint(address: .v4(0), port: 2002), target: .interface(name: "eth1", port: 2002))))
        return DaemonSnapshot(version: "0.1.0", startTime: 1, process: nil, listeners: [relay],
                              reloads: ReloadFacts(lastTimestamp: 1), loopLateness: .empty, notReadyReason: nil, unhealthyReason: nil,
                              statusLine: "Serving 1 listener")
    }()

    @Test("Per-target series: up, sent and errors, labelled by listener, kind and the target as configured")
    func exposition() {
        let text = PrometheusExposition.render(Self.snapshot)
        let l = #"listener="relay",kind="broadcast-rebroadcaster""#
        for line in [
            #"netrelayd_relay_target_up{\#(l),target="eth1:2002"} 1"#,
            #"netrelayd_relay_target_up{\#(l),target="eth3:2002"} 0"#,
            #"netrelayd_relay_target_sent_total{\#(l),target="eth1:2002"} 2"#,
            #"netrelayd_relay_target_sent_total{\#(l),target="limited@eth2:2002"} 3"#,
            #"netrelayd_relay_target_errors_total{\#(l),target="limited@eth2:2002"} 1"#,
            #"netrelayd_relay_not_sent_back_total{\#(l)} 3"#,
            #"netrelayd_datagrams_dropped_total{\#(l),reason="interface_not_listed"} 0"#,
        ] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "\(line)")
        }
        #expect(text.contains("# TYPE netrelayd_relay_target_sent_total counter"))
    }

    @Test("/status.json lists each target with its counters and why it is skipped")
    func status() {
        let json = StatusDocument.render(Self.snapshot)
        #expect(json.contains(#""targets": [{"target": "eth1:2002", "destination": "10.0.1.255:2002", "sent": 2, "errors": 0, "skipped": null}, {"target": "limited@eth2:2002", "destination": "255.255.255.255:2002", "sent": 3, "errors": 1, "skipped": null}, {"target": "eth3:2002", "destination": null, "sent": 0, "errors": 0, "skipped": "interface \"eth3\" is down"}]"#))
        #expect(json.contains(#""notes": ["targets: eth1:2002 sent 2, errors 0; limited@eth2:2002 sent 3, errors 1; eth3:2002 SKIPPED (interface \"eth3\" is down) sent 0, errors 0"]"#))
    }
}
