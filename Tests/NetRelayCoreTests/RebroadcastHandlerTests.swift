import NIOCore
import NIOEmbedded
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

@Suite("Broadcast rebroadcaster handler")
struct RebroadcastHandlerTests {
    static let target = address("192.168.56.255", 2002)
    static let own: Set<IPAddress> = [IPAddress("192.168.56.1")!]

    struct Harness {
        let channel = EmbeddedChannel()
        let stats = ListenerStats()
        let clock = ManualClock()
        let log = RecordedLog()
        let handler: RebroadcastHandler

        /// `localPort` is the port our socket is bound to (and sends from).
        init(localPort: Int = 2001, _ configure: (inout BroadcastSpec) -> Void = { _ in }) throws {
            var spec = BroadcastSpec(listen: Endpoint(address: .v4(0), port: localPort), target: .address(Endpoint(address: IPAddress("192.168.56.255")!, port: 2002)))
            spec.prefix = "Received client data:"
            configure(&spec)
            handler = RebroadcastHandler(setup: RebroadcastSetup(spec, target: RebroadcastHandlerTests.target, ownAddresses: RebroadcastHandlerTests.own),
                                         stats: stats, logger: log.logger, clock: clock.read)
            channel.localAddress = address("0.0.0.0", localPort)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: address("192.168.56.99", 9)).wait()
        }

        func exchange(_ d: AddressedEnvelope<ByteBuffer>) throws -> [(to: SocketAddress, text: String)] {
            try channel.writeInbound(d)
            return try channel.sentDatagrams()
        }
    }

    @Test("Rebroadcasts prefix + payload to the broadcast target")
    func rebroadcast() throws {
        let h = try Harness()
        let out = try h.exchange(datagram("client", from: "192.168.56.2", 2002))
        #expect(out.map(\.text) == ["Received client data:client"])
        #expect(out.first?.to == RebroadcastHandlerTests.target)
        #expect(h.stats.value(.datagramsIn) == 1 && h.stats.value(.datagramsOut) == 1)
        #expect(try h.channel.finish().isClean)
    }

    @Test("Without a prefix, the payload goes out unchanged")
    func noPrefix() throws {
        let h = try Harness { $0.prefix = "" }
        #expect(try h.exchange(datagram("client", from: "192.168.56.2", 2002)).map(\.text) == ["client"])
    }

    @Test("Our own rebroadcast coming back is dropped: own address and own port")
    func ownPacket() throws {
        let h = try Harness(localPort: 2002)
        #expect(try h.exchange(datagram("Received client data:x", from: "192.168.56.1", 2002)).isEmpty)
        #expect(try h.exchange(datagram("x", from: "127.0.0.1", 2002)).isEmpty)
        #expect(h.stats.value(.droppedOwnPacket) == 2)
        // Our address but another port (a client on this host), or another host on our port: relayed.
        #expect(try h.exchange(datagram("x", from: "192.168.56.1", 40000)).count == 1)
        #expect(try h.exchange(datagram("x", from: "192.168.56.3", 2002)).count == 1)
    }

    @Test("Receive and send on one port: each datagram is prefixed once, not forever")
    func loopBroken() throws {
        let h = try Harness(localPort: 2002)
        var sent = try h.exchange(datagram("hello", from: "192.168.56.2", 2002))
        #expect(sent.map(\.text) == ["Received client data:hello"])
        // Feed what we broadcast back in, as the kernel does for a socket bound to 0.0.0.0:2002.
        for _ in 0..<5 {
            guard let echo = sent.first else { break }
            sent = try h.exchange(AddressedEnvelope(remoteAddress: address("192.168.56.1", 2002), data: ByteBuffer(string: echo.text)))
        }
        #expect(sent.isEmpty)
        #expect(h.stats.value(.datagramsOut) == 1)
    }

    @Test("sourceAllow: only listed sources are relayed")
    func sourceAllow() throws {
        let h = try Harness { $0.sourceAllow = [CIDRBlock("192.168.56.0/25")!] }
        #expect(try h.exchange(datagram("a", from: "192.168.56.7", 2002)).count == 1)
        #expect(try h.exchange(datagram("b", from: "192.168.56.200", 2002)).isEmpty)
        #expect(try h.exchange(datagram("c", from: "10.0.0.1", 2002)).isEmpty)
        #expect(h.stats.value(.droppedSourceNotAllowed) == 2)
        #expect(h.log.messages(atLeast: .notice).first { $0.contains("192.168.56.200:2002 is not in sourceAllow") } != nil)
    }

    @Test("Per-source rate limit")
    func rateLimit() throws {
        let h = try Harness { $0.rateLimit = 1; $0.rateLimitBurst = 2 }
        let n = try (0..<5).map { _ in try h.exchange(datagram("x", from: "192.168.56.7", 2002)).count }.reduce(0, +)
        #expect(n == 2)
        #expect(h.stats.value(.droppedRateLimited) == 3)
        h.clock.advance(seconds: 1)
        #expect(try h.exchange(datagram("x", from: "192.168.56.7", 2002)).count == 1)
    }

    @Test("Oversize datagrams are dropped")
    func oversize() throws {
        let h = try Harness { $0.maxDatagramSize = 10 }
        #expect(try h.exchange(datagram(bytes: 11, from: "192.168.56.7", 2002)).isEmpty)
        #expect(try h.exchange(datagram(bytes: 10, from: "192.168.56.7", 2002)).count == 1)
        #expect(h.stats.value(.droppedOversize) == 1)
    }

    @Test("A new target applies at once")
    func newTarget() throws {
        let h = try Harness()
        var spec = BroadcastSpec(listen: Endpoint(address: .v4(0), port: 2001), target: .interface(name: "eth0", port: 2002))
        spec.prefix = "P:"
        h.handler.apply(RebroadcastSetup(spec, target: address("10.1.255.255", 2002), ownAddresses: RebroadcastHandlerTests.own))
        let out = try h.exchange(datagram("x", from: "192.168.56.7", 2002))
        #expect(out.first?.to == address("10.1.255.255", 2002))
        #expect(out.first?.text == "P:x")
    }

    @Test("The total rate limit bounds rebroadcasts across all sources")
    func totalRateLimit() throws {
        let h = try Harness { $0.totalRateLimit = 1; $0.totalRateLimitBurst = 3 }
        var sent = 0
        for i in 0..<10 { sent += try h.exchange(datagram("m\(i)", from: "192.168.56.\(10 + i)", 5000)).count }
        #expect(sent == 3)
        #expect(h.stats.value(.droppedTotalRateLimit) == 7)
        h.clock.advance(seconds: 1)
        #expect(try h.exchange(datagram("later", from: "192.168.56.99", 5000)).count == 1)
    }
}

@Suite("Broadcast target resolution")
struct BroadcastTargetResolverTests {
    let listen = Endpoint(address: .v4(0), port: 2001)
    let interfaces = [
        InterfaceAddress(interface: "lo", address: IPAddress("127.0.0.1")!, prefixLength: 8, broadcast: nil, isLoopback: true),
        InterfaceAddress(interface: "eth0", address: IPAddress("192.168.56.1")!, prefixLength: 24, broadcast: IPAddress("192.168.56.255")!),
        InterfaceAddress(interface: "eth0", address: IPAddress("10.1.2.3")!, prefixLength: 16, broadcast: IPAddress("10.1.255.255")!),
        InterfaceAddress(interface: "eth0", address: IPAddress("fe80::1")!, prefixLength: 64, broadcast: nil),
        InterfaceAddress(interface: "wg0", address: IPAddress("10.9.0.1")!, prefixLength: 32, broadcast: nil, isPointToPoint: true),
        InterfaceAddress(interface: "v6only", address: IPAddress("2001:db8::1")!, prefixLength: 64, broadcast: nil),
    ]

    func resolve(_ name: String, listen: Endpoint? = nil) -> Result<Endpoint, BroadcastTargetResolver.Failure> {
        BroadcastTargetResolver.resolve(.interface(name: name, port: 2002), listen: listen ?? self.listen, interfaces: interfaces)
    }

    @Test("An address target is used as written")
    func address() throws {
        let e = Endpoint(address: IPAddress("127.255.255.255")!, port: 2002)
        #expect(try BroadcastTargetResolver.resolve(.address(e), listen: listen, interfaces: []).get() == e)
    }

    @Test("An interface target is its broadcast address, preferring the listen address's subnet")
    func interface() throws {
        #expect(try resolve("eth0").get().description == "192.168.56.255:2002")
        #expect(try resolve("eth0", listen: Endpoint(address: IPAddress("10.1.2.3")!, port: 2001)).get().description == "10.1.255.255:2002")
    }

    @Test("Unknown interfaces and interfaces without a broadcast address are errors that say which")
    func failures() {
        #expect(resolve("eth9") == .failure(.init(reason: "no interface named \"eth9\" (this host has: lo, eth0, wg0, v6only)")))
        guard case .failure(let lo) = resolve("lo"), case .failure(let wg) = resolve("wg0"), case .failure(let v6) = resolve("v6only") else {
            Issue.record("expected failures")
            return
        }
        #expect(lo.reason.contains("loopback") && lo.reason.contains("127.255.255.255:2002"))
        #expect(wg.reason == "interface \"wg0\" is point-to-point and has no broadcast address")
        #expect(v6.reason == "interface \"v6only\" has no IPv4 address, so no broadcast address")
    }

    @Test("Own addresses: every IPv4 interface address and the listen address")
    func own() {
        let own = BroadcastTargetResolver.ownAddresses(interfaces, listen: Endpoint(address: IPAddress("192.168.56.9")!, port: 2001))
        #expect(own.contains(IPAddress("192.168.56.1")!) && own.contains(IPAddress("10.9.0.1")!) && own.contains(IPAddress("192.168.56.9")!))
        #expect(!own.contains(IPAddress("fe80::1")!))
    }

    @Test("This host's loopback is listed, with 127.255.255.255 among its broadcast addresses")
    func hostInterfaces() {
        let mine = InterfaceAddresses.current()
        let lo = mine.first { $0.address == IPAddress("127.0.0.1")! }
        #expect(lo?.prefixLength == 8)
        #expect(InterfaceAddresses.broadcastAddresses(mine).contains(IPAddress("127.255.255.255")!))
        #expect(InterfaceAddresses.broadcastAddresses(mine).contains(IPAddress("255.255.255.255")!))
    }
}
