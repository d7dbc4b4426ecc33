import CNetRelayShims
import Glibc
import NIOCore
import NIOEmbedded
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

@Suite("Reflection budget: eviction pressure, total limit, empty datagrams")
struct ReflectionBudgetTests {
    let victim = IPAddress("192.0.2.1")!
    func forged(_ i: Int) -> IPAddress { .v4(0x0A00_0000 + UInt32(i)) }

    @Test("A source pushed out of a full table by fresh forged sources comes back with an empty bucket, not a new burst")
    func evictedSourceGetsNoNewBurst() {
        var t = TokenBucketTable(rate: 100, burst: 200, maxSources: 16)
        let now: UInt64 = 1_000_000_000
        var granted = 0
        for _ in 0..<300 where t.take(victim, now: now) { granted += 1 }
        #expect(granted == 200)
        // 16 forged sources within a millisecond flush the victim out.
        for i in 0..<16 { _ = t.take(forged(i), now: now + UInt64(i) * 1000) }
        #expect(!t.contains(victim))
        var again = 0
        for _ in 0..<300 where t.take(victim, now: now + 1_000_000) { again += 1 }
        // Before the fix: 200 (a fresh burst). Now: the one datagram that creates the entry.
        #expect(again == 1)
        #expect(t.pressuredEvictions >= 1)
    }

    @Test("Without pressure (the forgotten entry had refilled) a new source still gets its full burst")
    func noPressureFullBurst() {
        var t = TokenBucketTable(rate: 100, burst: 200, maxSources: 2)
        _ = t.take(forged(1), now: 0)
        _ = t.take(forged(2), now: 0)
        // 2 s at 100/s refills a burst of 200: forgetting forged(1) loses nothing.
        let later: UInt64 = 2_000_000_000
        var granted = 0
        for _ in 0..<300 where t.take(victim, now: later) { granted += 1 }
        #expect(granted == 200)
        #expect(t.evictions == 1 && t.pressuredEvictions == 0)
    }

    @Test("The total bucket gives its burst, then its rate, and never more than the burst after a pause")
    func totalBucket() {
        var b = TokenBucket(rate: 10, burst: 20)
        let start: UInt64 = 7_000_000_000
        var granted = 0
        for _ in 0..<100 where b.take(now: start) { granted += 1 }
        #expect(granted == 20)
        // 0.5 s at 10/s: five more.
        granted = 0
        for _ in 0..<100 where b.take(now: start + 500_000_000) { granted += 1 }
        #expect(granted == 5)
        granted = 0
        for _ in 0..<100 where b.take(now: start + 3_600_000_000_000) { granted += 1 }
        #expect(granted == 20)
        // A reload to a smaller burst cuts what is saved.
        b.reconfigure(rate: 10, burst: 3)
        granted = 0
        for _ in 0..<100 where b.take(now: start + 7_200_000_000_000) { granted += 1 }
        #expect(granted == 3)
    }

    func responder(_ configure: (inout UDPResponderSpec) -> Void) throws -> (EmbeddedChannel, ListenerStats, ManualClock) {
        var spec = UDPResponderSpec(listen: Endpoint(address: .v4(0x7F00_0001), port: 2001))
        configure(&spec)
        let stats = ListenerStats(), clock = ManualClock(), log = RecordedLog()
        let handler = UDPResponderHandler(setup: UDPResponderSetup(spec, broadcastAddresses: []), stats: stats, logger: log.logger, clock: clock.read)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: address("127.0.0.1", 9)).wait()
        return (channel, stats, clock)
    }

    @Test("Many forged sources, each within its own limit, get no more than the total limit's burst, then its rate")
    func totalLimitAcrossSources() throws {
        let (channel, stats, clock) = try responder { $0.totalRateLimit = 50; $0.totalRateLimitBurst = 100 }
        for i in 0..<1000 { channel.deliverBatch([datagram("x", from: "10.9.\(i / 250).\(i % 250 + 1)", 40000)]) }
        #expect(try channel.sentDatagrams().count == 100)
        #expect(stats.value(.droppedTotalRateLimit) == 900)
        clock.advance(seconds: 1)
        for i in 0..<1000 { channel.deliverBatch([datagram("y", from: "10.8.\(i / 250).\(i % 250 + 1)", 40000)]) }
        #expect(try channel.sentDatagrams().count == 50)
        #expect(try channel.finish().isClean)
    }

    @Test("An empty datagram is not answered by default, and counted; replyToEmpty answers it")
    func emptyDatagram() throws {
        let (channel, stats, _) = try responder { $0.replyPrefix = "reply:" }
        channel.deliverBatch([datagram("", from: "192.0.2.7", 40000)])
        #expect(try channel.sentDatagrams().isEmpty)
        #expect(stats.value(.droppedEmpty) == 1)
        let snapshot = ListenerSnapshot(name: "u", kind: UDPResponderKind().tag, address: "", state: .up, counters: Counter.allCases.map { stats.value($0) })
        #expect(snapshot.summary.contains("dropped=1, dropped empty=1"))
        let (allowing, _, _) = try responder { $0.replyPrefix = "reply:"; $0.replyToEmpty = true }
        allowing.deliverBatch([datagram("", from: "192.0.2.7", 40000)])
        #expect(try allowing.sentDatagrams().map(\.text) == ["reply:"])
    }
}

@Suite("Relay mark: the socket filter")
struct RelayMarkFilterTests {
    /// A UDP socket bound to the loopback address of `family`, port chosen by the kernel.
    func boundSocket(_ family: Int32) throws -> (CInt, SocketAddress) {
        let address = try family == AF_INET ? SocketAddress(ipAddress: "127.0.0.1", port: 0) : SocketAddress(ipAddress: "::1", port: 0)
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        _ = address.withSockAddr { bind(fd, $0, socklen_t($1)) }
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = family == AF_INET
            ? withUnsafeBytes(of: &storage) { Int(UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self))) }
            : withUnsafeBytes(of: &storage) { Int(UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self))) }
        return (fd, try family == AF_INET ? SocketAddress(ipAddress: "127.0.0.1", port: port) : SocketAddress(ipAddress: "::1", port: port))
    }

    func send(_ fd: CInt, _ text: String, to: SocketAddress) {
        let bytes = Array(text.utf8)
        _ = to.withSockAddr { sa, len in bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, socklen_t(len)) } }
    }

    func receive(_ fd: CInt) -> String {
        var buffer = [UInt8](repeating: 0, count: 100)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n >= 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : "error \(errno)"
    }

    @Test("Marked datagrams are dropped in the kernel and counted; unmarked ones and other marks pass; what we send carries the mark",
          arguments: [AF_INET, AF_INET6])
    func filter(family: Int32) throws {
        let (receiver, receiverAddress) = try boundSocket(family)
        let (sender, _) = try boundSocket(family)
        let (marked, _) = try boundSocket(family)
        let (otherMark, _) = try boundSocket(family)
        defer { for fd in [receiver, sender, marked, otherMark] { close(fd) } }
        try RelayMark.apply(5, to: receiver)
        try RelayMark.apply(5, to: marked)
        try RelayMark.apply(6, to: otherMark)
        let stats = ListenerStats()
        let counter = try #require(KernelDropCounter(fd: receiver, stats: stats))
        // Loopback keeps the order: the first datagram that arrives shows which were dropped.
        send(marked, "marked-1", to: receiverAddress)
        send(sender, "plain", to: receiverAddress)
        send(marked, "marked-2", to: receiverAddress)
        send(otherMark, "mark 6", to: receiverAddress)
        #expect(receive(receiver) == "plain")
        #expect(receive(receiver) == "mark 6")
        counter.poll()
        #expect(stats.value(.droppedInKernel) == 2)
        #expect(CNetRelay_socketDrops(receiver) == 2)
    }

    @Test("relayMark 0 sets nothing: a marked datagram is received")
    func off() throws {
        let (receiver, receiverAddress) = try boundSocket(AF_INET)
        let (marked, _) = try boundSocket(AF_INET)
        defer { close(receiver); close(marked) }
        try RelayMark.apply(0, to: receiver)
        try RelayMark.apply(5, to: marked)
        send(marked, "marked", to: receiverAddress)
        #expect(receive(receiver) == "marked")
    }
}
