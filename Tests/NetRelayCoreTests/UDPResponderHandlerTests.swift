import Glibc
import NIOCore
import NIOEmbedded
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

@Suite("UDP responder handler")
struct UDPResponderHandlerTests {
    struct Harness {
        let channel = EmbeddedChannel()
        let stats = ListenerStats()
        let clock = ManualClock()
        let log = RecordedLog()
        let handler: UDPResponderHandler

        init(_ configure: (inout UDPResponderSpec) -> Void = { _ in }, broadcast: Set<IPAddress> = [.v4(0xFFFF_FFFF), IPAddress("10.0.0.255")!]) throws {
            var spec = UDPResponderSpec(listen: Endpoint(address: .v4(0x7F00_0001), port: 2001))
            configure(&spec)
            handler = UDPResponderHandler(setup: UDPResponderSetup(spec, broadcastAddresses: broadcast), stats: stats, logger: log.logger, clock: clock.read)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: address("127.0.0.1", 9)).wait()  // active, so writes go out
        }

        /// Sends one datagram as its own batch and returns what came back.
        func exchange(_ d: AddressedEnvelope<ByteBuffer>) throws -> [(to: SocketAddress, text: String)] {
            try channel.writeInbound(d)
            return try channel.sentDatagrams()
        }
    }

    @Test("Answers the sender with the same bytes")
    func plainReply() throws {
        let h = try Harness { $0.rateLimit = 0 }
        let out = try h.exchange(datagram("hello", from: "192.0.2.7", 40000))
        #expect(out.count == 1)
        #expect(out.first?.text == "hello")
        #expect(out.first?.to == address("192.0.2.7", 40000))
        #expect(h.stats.value(.datagramsIn) == 1 && h.stats.value(.datagramsOut) == 1)
        #expect(try h.channel.finish().isClean)
    }

    @Test("Prefixes each reply, as the classic server does")
    func prefixedReply() throws {
        let h = try Harness { $0.replyPrefix = "confirmation message" }
        let out = try h.exchange(datagram("hello", from: "192.0.2.7", 40000))
        #expect(out.map(\.text) == ["confirmation messagehello"])
    }

    @Test("A read batch is answered at channelReadComplete, every reply intact")
    func batch() throws {
        let h = try Harness { $0.replyPrefix = "re:"; $0.rateLimit = 0; $0.maxDatagramSize = 30000 }
        for i in 0..<3 { h.channel.pipeline.syncOperations.fireChannelRead(NIOAny(datagram("m\(i)", from: "192.0.2.\(i + 1)", 40000 + i))) }
        #expect(try h.channel.sentDatagrams().isEmpty)
        #expect(h.stats.value(.datagramsIn) == 0)  // published once per batch
        h.channel.pipeline.syncOperations.fireChannelReadComplete()
        let out = try h.channel.sentDatagrams()
        #expect(out.map(\.text) == ["re:m0", "re:m1", "re:m2"])
        #expect(out.map(\.to) == (0..<3).map { address("192.0.2.\($0 + 1)", 40000 + $0) })
        #expect(h.stats.value(.datagramsIn) == 3 && h.stats.value(.datagramsOut) == 3)
        // The arena is reused for the next batch without disturbing what was sent.
        h.channel.deliverBatch([datagram(String(repeating: "y", count: 20000), from: "192.0.2.1", 40000), datagram("z", from: "192.0.2.2", 40001)])
        let again = try h.channel.sentDatagrams()
        #expect(again.count == 2)
        #expect(again.first?.text.count == 20003 && again.first?.text.hasPrefix("re:yyy") == true && again.first?.text.hasSuffix("yyy") == true)
        #expect(again.last?.text == "re:z")
    }

    @Test("Datagrams over maxDatagramSize are dropped and counted; at the limit they are answered")
    func oversize() throws {
        let h = try Harness { $0.maxDatagramSize = 100 }
        #expect(try h.exchange(datagram(bytes: 100, from: "192.0.2.7", 40000)).count == 1)
        #expect(try h.exchange(datagram(bytes: 101, from: "192.0.2.7", 40000)).isEmpty)
        #expect(h.stats.value(.droppedOversize) == 1)
        #expect(h.log.messages(atLeast: .notice).contains { $0.contains("larger than maxDatagramSize (100 bytes)") && $0.contains("192.0.2.7:40000") })
    }

    @Test("The rate limit drops a burst's excess and recovers with time")
    func rateLimit() throws {
        let h = try Harness { $0.rateLimit = 2; $0.rateLimitBurst = 3 }
        let replies = try (0..<10).map { _ in try h.exchange(datagram("x", from: "192.0.2.7", 40000)).count }
        #expect(replies.reduce(0, +) == 3)
        #expect(h.stats.value(.droppedRateLimited) == 7)
        // Another source is not affected.
        #expect(try h.exchange(datagram("x", from: "192.0.2.8", 40000)).count == 1)
        // One second at 2/s: two more.
        h.clock.advance(seconds: 1)
        let after = try (0..<5).map { _ in try h.exchange(datagram("x", from: "192.0.2.7", 40000)).count }
        #expect(after.reduce(0, +) == 2)
        // One summary line at first, not one per drop.
        #expect(h.log.messages(atLeast: .notice).filter { $0.contains("over the rate limit") }.count == 1)
    }

    @Test("rateLimit 0 answers everything")
    func noRateLimit() throws {
        let h = try Harness { $0.rateLimit = 0 }
        let n = try (0..<1000).map { _ in try h.exchange(datagram("x", from: "192.0.2.7", 40000)).count }.reduce(0, +)
        #expect(n == 1000)
        #expect(h.handler.trackedSources == 0)
    }

    @Test("Spoofed sources do not grow the rate limiter past rateLimitMaxSources")
    func limiterBounded() throws {
        let h = try Harness { $0.rateLimitMaxSources = 16 }
        for i in 0..<500 {
            h.channel.deliverBatch([datagram("x", from: "10.1.\(i / 250).\(i % 250 + 1)", 40000)])
        }
        #expect(h.handler.trackedSources == 16)
        #expect(try h.channel.sentDatagrams().count == 500)
    }

    @Test("Bad sources are not answered: multicast, broadcast, privileged ports, 0.0.0.0/8", arguments: [
        ("224.0.0.1", 5000), ("239.1.2.3", 5000), ("255.255.255.255", 5000), ("10.0.0.255", 5000),
        ("192.0.2.7", 53), ("192.0.2.7", 1023), ("192.0.2.7", 0), ("0.1.2.3", 5000), ("255.1.2.3", 5000),
        ("ff02::1", 5000), ("::", 5000), ("::ffff:224.0.0.1", 5000), ("2001:db8::1", 123),
    ])
    func badSources(ip: String, port: Int) throws {
        let h = try Harness()
        #expect(try h.exchange(datagram("x", from: ip, port)).isEmpty)
        #expect(h.stats.value(.droppedBadSource) == 1)
    }

    @Test("Loopback sources are answered, even from privileged ports", arguments: [("127.0.0.1", 53), ("127.0.0.1", 40000), ("::1", 80), ("::ffff:127.0.0.1", 7)])
    func loopbackAllowed(ip: String, port: Int) throws {
        let h = try Harness()
        #expect(try h.exchange(datagram("x", from: ip, port)).count == 1)
    }

    @Test("Ordinary sources are answered", arguments: [("192.0.2.7", 1024), ("10.0.0.254", 40000), ("2001:db8::1", 40000)])
    func goodSources(ip: String, port: Int) throws {
        let h = try Harness()
        #expect(try h.exchange(datagram("x", from: ip, port)).count == 1)
    }

    @Test("Without rejectBadSources, only sources no reply can reach are dropped")
    func filterOff() throws {
        let h = try Harness { $0.rejectBadSources = false }
        #expect(try h.exchange(datagram("x", from: "192.0.2.7", 53)).count == 1)
        #expect(try h.exchange(datagram("x", from: "224.0.0.1", 5000)).count == 1)
        // A send to these would fail (EACCES without SO_BROADCAST, EINVAL for port 0) and make NIO close the socket.
        #expect(try h.exchange(datagram("x", from: "10.0.0.255", 5000)).isEmpty)
        #expect(try h.exchange(datagram("x", from: "255.255.255.255", 5000)).isEmpty)
        #expect(try h.exchange(datagram("x", from: "127.0.0.1", 0)).isEmpty)
        #expect(h.stats.value(.droppedBadSource) == 3)
    }

    @Test("When NIO's send queue is full, replies are dropped and counted instead of queued")
    func sendQueueFull() throws {
        let h = try Harness()
        h.channel.isWritable = false
        #expect(try h.exchange(datagram("x", from: "192.0.2.7", 40000)).isEmpty)
        #expect(h.stats.value(.droppedSendQueueFull) == 1)
        h.channel.isWritable = true
        #expect(try h.exchange(datagram("x", from: "192.0.2.7", 40000)).count == 1)
    }

    @Test("A failed send is counted and remembered for the log")
    func sendError() throws {
        let h = try Harness()
        try h.channel.pipeline.syncOperations.addHandler(FailingWrites(errno: EPERM), position: .first)
        h.channel.deliverBatch([datagram("a", from: "192.0.2.7", 40000), datagram("b", from: "192.0.2.8", 40000)])
        #expect(h.stats.value(.sendErrors) == 1)
        #expect(h.handler.lastSendError?.contains("not permitted") == true)
        #expect(h.log.messages(atLeast: .notice).contains { $0.hasPrefix("Failed to send 1 of the replies: operation not permitted") })
    }

    @Test("New setup apply at once; sources keep their rate-limit state")
    func applySettings() throws {
        let h = try Harness { $0.rateLimit = 1; $0.rateLimitBurst = 1 }
        #expect(try h.exchange(datagram("x", from: "192.0.2.7", 40000)).map(\.text) == ["x"])
        var spec = UDPResponderSpec(listen: Endpoint(address: .v4(0x7F00_0001), port: 2001))
        spec.replyPrefix = "v2:"
        spec.rateLimit = 1
        spec.rateLimitBurst = 1
        h.handler.apply(UDPResponderSetup(spec, broadcastAddresses: []))
        #expect(try h.exchange(datagram("x", from: "192.0.2.7", 40000)).isEmpty)
        #expect(try h.exchange(datagram("x", from: "192.0.2.8", 40000)).map(\.text) == ["v2:x"])
    }
}
