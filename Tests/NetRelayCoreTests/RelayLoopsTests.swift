import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

@Suite("Relay loops in one configuration")
struct RelayLoopsTests {
    func ep(_ s: String) -> Endpoint { try! Endpoint.parse(s).get() }
    func rebroadcaster(_ listen: String, _ target: String, allowLoop: Bool = false) -> RelayPart {
        var spec = BroadcastSpec(listen: ep(listen), target: .address(ep(target)))
        spec.allowLoop = allowLoop
        return spec.relay
    }
    func responder(_ listen: String) -> RelayPart { UDPResponderSpec(listen: ep(listen)).relay }
    /// A relay that drops nothing of its own: it sends from another socket to `to`.
    func forwarder(_ listen: String, _ to: String, interfaces: Set<String>? = nil, hearsOn: Set<String>? = nil) -> RelayPart {
        let destination = ep(to)
        return .relays(RelayEdges(hears: [RelayEar(ep(listen), interfaces: hearsOn)],
                                  outputs: [RelayOutput(port: destination.port, destination: "\(destination)", interfaces: interfaces, keyPaths: ["to"],
                                                        reaches: RelayReach.address(destination.address))],
                                  sendsFromWhereItHears: false, dropsOwnEchoes: false,
                                  advice: LoopAdvice(eachPass: "a copy each pass", fix: "send elsewhere", optOut: nil)))
    }

    @Test("Who hears a target: the wildcard, the address itself, its subnet by the broadcast address's trailing ones; never another port",
          arguments: [
            ("127.255.255.255:2002", "0.0.0.0:2002", true),
            ("127.255.255.255:2002", "[::]:2002", true),
            ("127.255.255.255:2002", "127.0.0.1:2002", true),
            ("127.255.255.255:2002", "0.0.0.0:2003", false),
            ("192.168.56.255:2002", "192.168.56.1:2002", true),
            ("192.168.56.255:2002", "192.168.57.1:2002", false),
            ("192.168.56.255:2002", "127.0.0.1:2002", false),
            ("255.255.255.255:2002", "10.1.2.3:2002", true),
            ("127.0.0.1:2002", "127.0.0.1:2002", true),
            ("127.0.0.1:2002", "127.0.0.2:2002", false),
            ("10.0.0.5:2002", "[::1]:2002", false),
          ])
    func reaches(target: String, listen: String, expected: Bool) {
        #expect(BroadcastSpec.Target.address(ep(target)).reaches(ep(listen)) == expected)
    }

    @Test("An interface target is taken to reach every non-loopback IPv4 listener on its port")
    func interfaceTarget() {
        let target = BroadcastSpec.Target.interface(name: "eth0", port: 5002)
        #expect(target.reaches(ep("192.168.1.4:5002")))
        #expect(target.reaches(ep("0.0.0.0:5002")))
        #expect(!target.reaches(ep("127.0.0.1:5002")))
        #expect(!target.reaches(ep("192.168.1.4:5003")))
    }

    @Test("Two rebroadcasters aimed at each other's port are one loop; a chain is none")
    func twoRebroadcasters() {
        let loop = [rebroadcaster("0.0.0.0:2001", "127.255.255.255:2002"), rebroadcaster("0.0.0.0:2002", "127.255.255.255:2001")]
        #expect(RelayLoops.loops(loop) == [[0, 1]])
        let chain = [rebroadcaster("0.0.0.0:2001", "127.255.255.255:2002"), rebroadcaster("0.0.0.0:2002", "127.255.255.255:2003")]
        #expect(RelayLoops.loops(chain).isEmpty)
    }

    @Test("A responder that hears a rebroadcaster answers it: a loop of two")
    func responderBehindRebroadcaster() {
        let nodes = [rebroadcaster("0.0.0.0:2001", "127.255.255.255:2002"), responder("127.0.0.1:2002")]
        #expect(RelayLoops.edges(nodes) == [[1], [0]])
        #expect(RelayLoops.loops(nodes) == [[0, 1]])
    }

    @Test("Through a chain: A -> B -> responder; the responder answers B, so B and the responder loop, A only feeds them")
    func chain() {
        let nodes = [rebroadcaster("0.0.0.0:2001", "127.255.255.255:2002"), rebroadcaster("0.0.0.0:2002", "127.255.255.255:2003"), responder("0.0.0.0:2003")]
        #expect(RelayLoops.loops(nodes) == [[1, 2]])
    }

    @Test("A ring of three rebroadcasters is reported once, from its first listener, in order")
    func ring() {
        let nodes = [
            responder("127.0.0.1:3000"),
            rebroadcaster("0.0.0.0:2001", "127.255.255.255:2002"),
            rebroadcaster("0.0.0.0:2002", "127.255.255.255:2003"),
            rebroadcaster("0.0.0.0:2003", "127.255.255.255:2001"),
        ]
        #expect(RelayLoops.loops(nodes) == [[1, 2, 3]])
    }

    @Test("allowLoop on one rebroadcaster of the loop accepts it; a target on its own port is left to the own-packet check")
    func allowLoop() {
        let nodes = [rebroadcaster("0.0.0.0:2001", "127.255.255.255:2002", allowLoop: true), rebroadcaster("0.0.0.0:2002", "127.255.255.255:2001")]
        #expect(RelayLoops.loops(nodes).isEmpty)
        #expect(RelayLoops.loops([rebroadcaster("0.0.0.0:2001", "127.255.255.255:2001")]).isEmpty)
    }

    @Test("A relay without an own-packet guard that hears its own output is a loop of one; a responder does not answer a relay that sends from elsewhere")
    func selfLoop() {
        #expect(RelayLoops.loops([forwarder("127.0.0.1:4000", "127.0.0.1:4000")]) == [[0]])
        #expect(RelayLoops.loops([forwarder("127.0.0.1:4000", "127.0.0.1:4001")]).isEmpty)
        #expect(RelayLoops.edges([forwarder("127.0.0.1:4000", "127.0.0.1:4001"), responder("0.0.0.0:4001")]) == [[1], []])
    }

    @Test("Unicast reach: the address itself or its family's wildcard ([::] hears IPv4 too); interfaces must meet")
    func unicastAndInterfaces() {
        let reach = RelayReach.address(ep("10.0.0.1:1").address)
        #expect(reach(ep("10.0.0.1:9")) && reach(ep("0.0.0.0:9")) && reach(ep("[::]:9")))
        #expect(!reach(ep("10.0.0.2:9")) && !reach(ep("[::1]:9")))
        #expect(!RelayReach.address(ep("[::1]:1").address)(ep("0.0.0.0:9")))
        // eth0 -> eth1 and eth2 -> eth0: the second feeds the first, nothing feeds itself or goes round.
        let nodes = [forwarder("0.0.0.0:5353", "224.0.0.251:5353", interfaces: ["eth1"], hearsOn: ["eth0"]),
                     forwarder("0.0.0.0:5353", "224.0.0.251:5353", interfaces: ["eth0"], hearsOn: ["eth2"])]
        #expect(RelayLoops.edges(nodes) == [[], [0]])
        #expect(RelayLoops.loops(nodes + [forwarder("0.0.0.0:5353", "224.0.0.251:5353", interfaces: ["eth2"], hearsOn: ["eth1"])]) == [[0, 2, 1]])
    }

    @Test("Two separate loops are two reports")
    func twoLoops() {
        let nodes = [
            rebroadcaster("0.0.0.0:2001", "127.255.255.255:2002"), rebroadcaster("0.0.0.0:2002", "127.255.255.255:2001"),
            rebroadcaster("0.0.0.0:3001", "127.255.255.255:3002"), responder("127.0.0.1:3002"),
        ]
        #expect(RelayLoops.loops(nodes) == [[0, 1], [2, 3]])
    }

    @Test("A long chain of listeners is checked without deep recursion")
    func longChain() {
        let nodes = (0..<3000).map { rebroadcaster("0.0.0.0:\(10000 + $0)", "127.255.255.255:\(10001 + $0)") }
        #expect(RelayLoops.loops(nodes).isEmpty)
        let ring = nodes + [rebroadcaster("0.0.0.0:13000", "127.255.255.255:10000")]
        #expect(RelayLoops.loops(ring).map(\.count) == [3001])
    }
}

/// Loops and the new keys, as check-config reports them.
let loopConfigs: [BadConfig] = [
    BadConfig("""
    {"listeners": [
      {"name": "a", "kind": "broadcast-rebroadcaster", "listen": "0.0.0.0:2001", "target": "127.255.255.255:2002"},
      {"name": "b", "kind": "broadcast-rebroadcaster", "listen": "0.0.0.0:2002", "target": "127.255.255.255:2001"}
    ]}
    """, [#"test.json:2:88: listeners[0].target: these listeners form a loop: "a" sends to 127.255.255.255:2002 and "b" hears it on 0.0.0.0:2002; "b" sends to 127.255.255.255:2001 and "a" hears it on 0.0.0.0:2001; every datagram would go round for ever, one more prefix each pass; point a target at a port no listener in the loop listens on, or set "allowLoop": true on one of "a" or "b" if the relay mark and the rate limits are to break it"#]),
    BadConfig("""
    {"listeners": [
      {"name": "echo", "kind": "udp-responder", "listen": "127.0.0.1:2002"},
      {"name": "relay", "kind": "broadcast-rebroadcaster", "listen": "0.0.0.0:2001",
       "targetInterface": "lo", "targetPort": 2003},
      {"name": "relay2", "kind": "broadcast-rebroadcaster", "listen": "0.0.0.0:2003", "target": "127.255.255.255:2002"}
    ]}
    """, [#"test.json:5:93: listeners[2].target: these listeners form a loop: "relay2" sends to 127.255.255.255:2002 and "echo" hears it on 127.0.0.1:2002; "echo" (udp-responder) replies to "relay2"; every datagram would go round for ever, one more prefix each pass; point a target at a port no listener in the loop listens on, or set "allowLoop": true on "relay2" if the relay mark and the rate limits are to break it"#]),
    BadConfig("""
    {"listeners": [
      {"name": "u", "kind": "udp-responder", "listen": "127.0.0.1:2002", "relayMark": 64, "totalRateLimit": -1, "replyToEmpty": 1}
    ]}
    """, [
        #"test.json:2:83: listeners[0].relayMark: 64 is out of range; expected a DSCP value from 1 to 63 (0: do not mark and do not drop marked datagrams)"#,
        #"test.json:2:105: listeners[0].totalRateLimit: -1 is out of range; expected a number of replies per second across all sources, from 0 to 10000000 (0: no limit)"#,
        #"test.json:2:125: listeners[0].replyToEmpty: expected true or false, got the number 1"#,
    ]),
]

@Suite("Loop and reflection keys in the configuration")
struct RelayLoopConfigurationTests {
    @Test("Each loop or bad value yields exactly its messages", arguments: loopConfigs)
    func rejects(_ config: BadConfig) {
        switch ConfigurationDecoder.decode(config.json, file: "test.json") {
        case .success: Issue.record("accepted: \(config.json)")
        case .failure(let error): #expect(error.issues.map(\.description) == config.expected)
        }
    }

    @Test("allowLoop on one rebroadcaster of the loop lets the configuration through; rateLimit 0 warns")
    func allowLoopAndWarning() throws {
        let json = """
        {"listeners": [
          {"name": "a", "kind": "broadcast-rebroadcaster", "listen": "0.0.0.0:2001", "target": "127.255.255.255:2002", "allowLoop": true, "rateLimit": 0},
          {"name": "b", "kind": "broadcast-rebroadcaster", "listen": "0.0.0.0:2002", "target": "127.255.255.255:2001"}
        ]}
        """
        let config = try ConfigurationDecoder.decode(json, file: "test.json").get()
        #expect(config.warnings(file: "test.json").map(\.description) == [
            #"test.json:2:144: warning: listeners[0].rateLimit: rate limiting is off: one source, or a loop through a relay that does not drop our relay mark, can make this rebroadcaster send as fast as it can; set a rate such as 100 (rebroadcasts per second per source)"#,
        ])
    }

    @Test("A total limit below the per-source limit is a warning")
    func totalBelowPerSource() throws {
        let json = """
        {"listeners": [{"name": "u", "kind": "udp-responder", "listen": "127.0.0.1:2002", "rateLimit": 500, "totalRateLimit": 100}]}
        """
        let config = try ConfigurationDecoder.decode(json, file: "test.json").get()
        #expect(config.warnings(file: "test.json").map(\.description) == [
            "test.json:1:119: warning: listeners[0].totalRateLimit: totalRateLimit (100 replies/s across all sources) is below what one source may have (rateLimit 500), so a single client can use up the whole listener's budget; raise totalRateLimit, or lower rateLimit",
        ])
    }

    @Test("Defaults: relay mark 5, total limit 1000/s with burst 2000, no reply to empty datagrams; a given total rate sets its burst")
    func defaults() throws {
        let json = """
        {"listeners": [
          {"name": "u", "kind": "udp-responder", "listen": "127.0.0.1:2002"},
          {"name": "b", "kind": "broadcast-rebroadcaster", "listen": "0.0.0.0:2001", "target": "127.255.255.255:2003", "totalRateLimit": 50, "relayMark": 0}
        ]}
        """
        let config = try ConfigurationDecoder.decode(json, file: "test.json").get()
        guard let u = config.listeners[0].kindSpec(as: UDPResponderSpec.self), let b = config.listeners[1].kindSpec(as: BroadcastSpec.self) else {
            Issue.record("wrong kinds")
            return
        }
        #expect(u.relayMark == 5 && u.totalRateLimit == 1000 && u.totalRateLimitBurst == 2000 && !u.replyToEmpty)
        #expect(b.relayMark == 0 && b.totalRateLimit == 50 && b.totalRateLimitBurst == 100)
    }
}
