import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

@Suite("Token bucket table")
struct TokenBucketTableTests {
    let a = IPAddress("192.0.2.1")!
    let b = IPAddress("192.0.2.2")!

    @Test("A new source gets its burst, then the rate")
    func burstThenRate() {
        var t = TokenBucketTable(rate: 2, burst: 3, maxSources: 16)
        let start: UInt64 = 5_000_000_000
        let first = (0..<5).map { _ in t.take(a, now: start) }
        #expect(first == [true, true, true, false, false])
        // Half a second at 2/s is one token.
        do { let ok = t.take(a, now: start + 500_000_000); #expect(ok) }
        do { let ok = t.take(a, now: start + 500_000_000); #expect(!ok) }
        // A long pause refills to the burst, never beyond.
        #expect(t.tokens(a, now: start + 60_000_000_000) == 3)
    }

    @Test("Sources have separate buckets")
    func separateSources() {
        var t = TokenBucketTable(rate: 1, burst: 1, maxSources: 16)
        do { let ok = t.take(a, now: 0); #expect(ok) }
        do { let ok = t.take(a, now: 0); #expect(!ok) }
        do { let ok = t.take(b, now: 0); #expect(ok) }
    }

    @Test("IPv6 sources share a bucket per /64; IPv4-mapped sources count as IPv4")
    func ipv6Keying() {
        var t = TokenBucketTable(rate: 1, burst: 1, maxSources: 16)
        do { let ok = t.take(IPAddress("2001:db8:1:2::1")!, now: 0); #expect(ok) }
        do { let ok = t.take(IPAddress("2001:db8:1:2::ffff")!, now: 0); #expect(!ok) }
        do { let ok = t.take(IPAddress("2001:db8:1:3::1")!, now: 0); #expect(ok) }
        do { let ok = t.take(IPAddress("::ffff:192.0.2.9")!, now: 0); #expect(ok) }
        do { let ok = t.take(IPAddress("192.0.2.9")!, now: 0); #expect(!ok) }
    }

    @Test("Spoofed sources cannot grow the table past maxSources")
    func bounded() {
        var t = TokenBucketTable(rate: 1, burst: 1, maxSources: 1000)
        for i in 0..<100_000 {
            _ = t.take(.v4(0x0A00_0000 + UInt32(i)), now: UInt64(i))
        }
        #expect(t.count == 1000)
        #expect(t.evictions == 99_000)
        // The most recent 1000 are the ones kept.
        #expect(t.contains(.v4(0x0A00_0000 + 99_999)))
        #expect(t.contains(.v4(0x0A00_0000 + 99_000)))
        #expect(!t.contains(.v4(0x0A00_0000 + 98_999)))
    }

    @Test("The least recently seen source is the one forgotten")
    func leastRecentlySeenEvicted() {
        var t = TokenBucketTable(rate: 1, burst: 5, maxSources: 3)
        let c = IPAddress("192.0.2.3")!, d = IPAddress("192.0.2.4")!
        _ = t.take(a, now: 1)
        _ = t.take(b, now: 2)
        _ = t.take(c, now: 3)
        _ = t.take(a, now: 4)  // a is now the most recent; b the least
        _ = t.take(d, now: 5)
        #expect(t.contains(a) && t.contains(c) && t.contains(d))
        #expect(!t.contains(b))
        #expect(t.evictions == 1)
    }

    @Test("A limited source stays limited while others come and go within the bound")
    func limitedSourceRemembered() {
        var t = TokenBucketTable(rate: 1, burst: 2, maxSources: 16)
        let both = t.take(a, now: 0) && t.take(a, now: 0)
        #expect(both)
        for i in 0..<10 { _ = t.take(.v4(0x0A00_0000 + UInt32(i)), now: 0) }
        do { let ok = t.take(a, now: 0); #expect(!ok) }
    }

    @Test("Reconfiguring keeps what sources used and shrinks to the new bound, newest first")
    func reconfigure() {
        var t = TokenBucketTable(rate: 1, burst: 10, maxSources: 8)
        for i in 0..<8 { _ = t.take(.v4(UInt32(100 + i)), now: UInt64(i)) }
        for _ in 0..<9 { _ = t.take(.v4(107), now: 7) }  // 107 has 0 tokens now
        t.reconfigure(rate: 1, burst: 4, maxSources: 3)
        #expect(t.count == 3)
        #expect(t.contains(.v4(107)) && t.contains(.v4(106)) && t.contains(.v4(105)))
        #expect(!t.contains(.v4(104)))
        do { let ok = t.take(.v4(107), now: 7); #expect(!ok) }
        #expect(t.tokens(.v4(106), now: 7) == 4)  // clamped to the new burst
        // Still a working list after the rebuild.
        for i in 0..<5 { _ = t.take(.v4(UInt32(200 + i)), now: 8) }
        #expect(t.count == 3)
    }
}

@Suite("Receive buffer sizing")
struct DatagramReceiveSizingTests {
    @Test("Each slice is maxDatagramSize + 1, so longer datagrams show up as oversize")
    func slices() {
        let s = DatagramReceiveSizing(maxDatagramSize: 2048, vectorReadCount: 32)
        #expect(s.sliceSize == 2049)
        #expect(s.vectorReadCount == 32)
        #expect(s.bufferSize == 32 * 2049)
        #expect(!s.lowered)
    }

    @Test("Large sizes read fewer datagrams per call instead of allocating huge buffers")
    func budget() {
        let s = DatagramReceiveSizing(maxDatagramSize: 65507, vectorReadCount: 1024)
        #expect(s.vectorReadCount == 16)
        #expect(s.bufferSize <= DatagramReceiveSizing.bufferBudget)
        #expect(s.lowered)
        #expect(s.loweredExplanation.contains("reading 16 datagram(s) per call"))
    }
}
