import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// Sits between the echo handler and the channel's head and records what goes out:
/// read() calls (did the echo handler hold them back?) and close modes.
final class OutboundSpy: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    var reads = 0
    var closes: [CloseMode] = []

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        closes.append(mode)
        if mode == .output {
            promise?.succeed(())  // EmbeddedChannel has no half-close: record it, keep the channel open
        } else {
            context.close(mode: mode, promise: promise)
        }
    }
}

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

@Suite("TCPEchoHandler")
struct TCPEchoHandlerTests {
    func makeChannel(prefix: String = "", maxQueued: Int = 1 << 20) throws -> (EmbeddedChannel, OutboundSpy, ListenerStats) {
        let spy = OutboundSpy()
        let stats = ListenerStats()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(spy)
        try channel.pipeline.syncOperations.addHandler(TCPEchoHandler(prefix: prefix, maxQueued: maxQueued, stats: stats, logger: quietLogger))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, spy, stats)
    }

    func outbound(_ channel: EmbeddedChannel) throws -> [String] {
        var out: [String] = []
        while let b = try channel.readOutbound(as: ByteBuffer.self) { out.append(String(buffer: b)) }
        return out
    }

    @Test("Echoes each chunk unchanged and counts bytes once per read batch")
    func echo() throws {
        let (channel, _, stats) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "hello"))
        try channel.writeInbound(ByteBuffer(string: " world"))
        #expect(try outbound(channel) == ["hello", " world"])
        #expect(stats.value(.bytesIn) == 11)
        #expect(stats.value(.bytesOut) == 11)
        #expect(try channel.finish().isClean)
    }

    @Test("Prefixes every chunk, as the classic 'Confirm data: ' server does")
    func prefix() throws {
        let (channel, _, stats) = try makeChannel(prefix: "Confirm data: ")
        try channel.writeInbound(ByteBuffer(string: "Hello!"))
        #expect(try outbound(channel) == ["Confirm data: ", "Hello!"])
        #expect(stats.value(.bytesOut) == 20)
        #expect(try channel.finish().isClean)
    }

    @Test("Holds back read() while the channel is not writable, and resumes when it is")
    func backpressure() throws {
        let (channel, spy, _) = try makeChannel()
        channel.read()
        #expect(spy.reads == 1)
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.read()
        channel.read()
        #expect(spy.reads == 1)
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(spy.reads == 2)
        #expect(try channel.finish().isClean)
    }

    @Test("Half-close (allowHalfOpen): flushes queued echo, then closes fully")
    func halfClose() throws {
        let (channel, spy, _) = try makeChannel()
        channel.pipeline.fireChannelRead(ByteBuffer(string: "queued"))  // no readComplete: not flushed yet
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try outbound(channel) == ["queued", ""])
        #expect(spy.closes == [.all])
        #expect(!channel.isActive)
    }

    @Test("Quiesce (shutdown): stops echoing, flushes, sends FIN and keeps reading to discard")
    func quiesce() throws {
        let (channel, spy, stats) = try makeChannel()
        channel.pipeline.fireChannelRead(ByteBuffer(string: "owed"))
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(try outbound(channel) == ["owed", ""])
        #expect(spy.closes == [.output])
        // Input after the FIN is read and discarded, even when not writable.
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        let readsBefore = spy.reads
        channel.read()
        #expect(spy.reads == readsBefore + 1)
        try channel.writeInbound(ByteBuffer(string: "late"))
        #expect(try outbound(channel).isEmpty)
        #expect(stats.value(.bytesIn) == 8)
        // The peer's FIN ends it.
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(spy.closes == [.output, .all])
    }

    @Test("A peer that floods while we hold back reads is cut off past maxQueued")
    func unrequestedDataCap() throws {
        let (channel, spy, stats) = try makeChannel(maxQueued: 100_000)
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        let chunk = ByteBuffer(repeating: 0x61, count: 40_000)
        try channel.writeInbound(chunk)
        try channel.writeInbound(chunk)
        #expect(channel.isActive)
        try channel.writeInbound(chunk)
        #expect(!channel.isActive)
        #expect(spy.closes == [.all])
        #expect(stats.value(.closedNotReading) == 1)
    }
}

@Suite("IdleTimeoutHandler")
struct IdleTimeoutHandlerTests {
    func makeChannel(timeout: TimeAmount) throws -> (EmbeddedChannel, ListenerStats) {
        let stats = ListenerStats()
        let channel = EmbeddedChannel()
        let sweeper = IdleSweeper(timeout: timeout, eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(IdleTimeoutHandler(sweeper: sweeper, stats: stats, logger: quietLogger))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, stats)
    }

    @Test("Closes after the timeout without traffic")
    func closesWhenIdle() throws {
        let (channel, stats) = try makeChannel(timeout: .seconds(30))
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        #expect(stats.value(.closedIdle) == 1)
    }

    @Test("Traffic pushes the deadline back")
    func trafficResets() throws {
        let (channel, stats) = try makeChannel(timeout: .seconds(30))
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        try channel.writeInbound(ByteBuffer(string: "x"))
        _ = try channel.readInbound(as: ByteBuffer.self)
        channel.embeddedEventLoop.advanceTime(by: .seconds(15))  // 35 s since connect, 15 since the read
        #expect(channel.isActive)
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()  // the peer read its echo: activity too
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        #expect(stats.value(.closedIdle) == 1)
    }
}

@Suite("IdleSweeper")
struct IdleSweeperTests {
    @Test("One sweep per loop closes the quiet connections, keeps the busy one, and stops when none are left")
    func sweepsManyConnections() throws {
        let loop = EmbeddedEventLoop()
        let sweeper = IdleSweeper(timeout: .seconds(10), eventLoop: loop)
        let stats = ListenerStats()
        var channels: [EmbeddedChannel] = []
        for _ in 0..<5 {
            let channel = EmbeddedChannel(loop: loop)
            try channel.pipeline.syncOperations.addHandler(IdleTimeoutHandler(sweeper: sweeper, stats: stats, logger: quietLogger))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            channels.append(channel)
        }
        #expect(sweeper.count == 5)
        loop.advanceTime(by: .seconds(6))
        try channels[2].writeInbound(ByteBuffer(string: "busy"))
        _ = try channels[2].readInbound(as: ByteBuffer.self)
        loop.advanceTime(by: .seconds(5))
        #expect(channels.map(\.isActive) == [false, false, true, false, false])
        #expect(stats.value(.closedIdle) == 4)
        #expect(sweeper.count == 1)
        _ = try channels[2].finish()
        #expect(sweeper.count == 0)
    }
}

@Suite("Admission policy")
struct AdmissionPolicyTests {
    func policy(_ configure: (inout TCPEchoSpec) -> Void) -> AdmissionPolicy {
        var spec = TCPEchoSpec(listen: Endpoint(address: .v4(0x7F00_0001), port: 2000))
        configure(&spec)
        return AdmissionPolicy(spec)
    }

    let local = IPAddress("127.0.0.1")!
    let other = IPAddress("10.1.2.3")!

    @Test("maxConnections refuses the connection over the limit")
    func overLimit() {
        let p = policy { $0.maxConnections = 2 }
        #expect(p.decide(peer: local, open: 1, openFromPeer: 1) == .admit)
        #expect(p.decide(peer: local, open: 2, openFromPeer: 2) == .refuse(.refusedOverLimit))
    }

    @Test("maxConnectionsPerSource applies per address; 0 means no limit")
    func perSource() {
        let p = policy { $0.maxConnectionsPerSource = 3 }
        #expect(p.decide(peer: local, open: 10, openFromPeer: 3) == .refuse(.refusedPerSource))
        #expect(p.decide(peer: other, open: 10, openFromPeer: 0) == .admit)
        #expect(policy { _ in }.decide(peer: local, open: 10, openFromPeer: 500) == .admit)
    }

    @Test("deny beats allow; an empty allow list allows everyone; mapped IPv4 peers match IPv4 rules")
    func lists() {
        let p = policy {
            $0.allow = [CIDRBlock("127.0.0.0/8")!, CIDRBlock("10.0.0.0/8")!]
            $0.deny = [CIDRBlock("10.1.0.0/16")!]
        }
        #expect(p.decide(peer: local, open: 0, openFromPeer: 0) == .admit)
        #expect(p.decide(peer: other, open: 0, openFromPeer: 0) == .refuse(.refusedDenied))
        #expect(p.decide(peer: IPAddress("192.168.1.1")!, open: 0, openFromPeer: 0) == .refuse(.refusedDenied))
        #expect(p.decide(peer: IPAddress("::ffff:127.0.0.5")!.unmapped, open: 0, openFromPeer: 0) == .admit)
        #expect(policy { _ in }.decide(peer: IPAddress("203.0.113.9")!, open: 0, openFromPeer: 0) == .admit)
    }
}
