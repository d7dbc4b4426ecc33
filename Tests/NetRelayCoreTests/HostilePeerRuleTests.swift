#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

@Suite("MemoryBudgetRule")
struct MemoryBudgetRuleTests {
    @Test("Under or at the target nobody is closed")
    func underTarget() {
        #expect(MemoryBudgetRule.victims(holdings: [10, 20], total: 30, target: 30).isEmpty)
        #expect(MemoryBudgetRule.victims(holdings: [], total: 0, target: 0).isEmpty)
    }

    @Test("The largest holders are closed first, only as many as needed to reach the target")
    func largestFirst() {
        // 100 over a target of 60: closing the 50 leaves 50.
        #expect(MemoryBudgetRule.victims(holdings: [10, 50, 20, 20], total: 100, target: 60) == [1])
        // 100 over a target of 25: the 50, then one 20 (the earlier), leaves 30, then the other 20.
        #expect(MemoryBudgetRule.victims(holdings: [10, 50, 20, 20], total: 100, target: 25) == [1, 2, 3])
    }

    @Test("Equal holdings: the earlier index first; empty accounts are never closed")
    func ties() {
        #expect(MemoryBudgetRule.victims(holdings: [5, 5, 5], total: 15, target: 10) == [0])
        #expect(MemoryBudgetRule.victims(holdings: [0, 0], total: 40, target: 10).isEmpty)
    }

    @Test("The target leaves a quarter of the budget free")
    func target() {
        #expect(MemoryBudgetRule.target(limit: 64 << 20) == 48 << 20)
    }
}

@Suite("MemoryBudget with TCPEchoHandler")
struct MemoryBudgetHandlerTests {
    func connection(_ budget: MemoryBudget, _ stats: ListenerStats) throws -> (EmbeddedChannel, OutboundSpy) {
        let spy = OutboundSpy()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(spy)
        try channel.pipeline.syncOperations.addHandler(TCPEchoHandler(prefix: "", maxQueued: 64 << 20, stats: stats, logger: quietLogger, budget: budget))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, spy)
    }

    func stall(_ channel: EmbeddedChannel) {
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
    }

    @Test("Writable connections are not accounted; over the budget the biggest unwritable one is closed and counted, reads pause, and resume once it is settled")
    func enforce() throws {
        // Every unwritable connection is also charged for the receive buffers NIO keeps for it.
        let a = MemoryBudget.receiveBufferAllowance
        let budget = MemoryBudget(limit: 1000 + 2 * a, logger: quietLogger)
        let stats = ListenerStats()
        let (small, smallSpy) = try connection(budget, stats)
        let (big, _) = try connection(budget, stats)
        let (reader, readerSpy) = try connection(budget, stats)

        try reader.writeInbound(ByteBuffer(repeating: 1, count: 5000))  // writable: not counted
        #expect(budget.held == 0)

        stall(small)
        stall(big)
        // Powers of two: a buffer is charged at its capacity, which NIO rounds up to one.
        try small.writeInbound(ByteBuffer(repeating: 1, count: 256))
        try big.writeInbound(ByteBuffer(repeating: 1, count: 512))
        #expect(budget.held == 768 + 2 * a)
        #expect(stats.value(.closedMemoryBudget) == 0)
        try big.writeInbound(ByteBuffer(repeating: 1, count: 256))  // 1024 + 2a > 1000 + 2a
        #expect(budget.isOver)
        #expect(stats.value(.closedMemoryBudget) == 1)

        // While over budget a writable connection does not get its read().
        let before = readerSpy.reads
        reader.pipeline.read()
        #expect(readerSpy.reads == before)

        // The close happens on the big connection's loop; it settles its 768 bytes (+ a).
        big.embeddedEventLoop.run()
        #expect(!big.isActive)
        #expect(budget.held == 256 + a)
        #expect(!budget.isOver)
        reader.embeddedEventLoop.run()
        #expect(readerSpy.reads == before + 1, "the paused read resumes")
        #expect(small.isActive)

        small.isWritable = true
        small.pipeline.fireChannelWritabilityChanged()
        #expect(budget.held == 0)
        _ = smallSpy
        _ = try? small.finish()
        _ = try? reader.finish()
    }
}

@Suite("EchoReceiveAllocator")
struct EchoReceiveAllocatorTests {
    @Test("Charged at capacity: a read that fills 100 bytes of a 16 KiB buffer while unwritable counts 16 KiB")
    func chargedAtCapacity() throws {
        let a = MemoryBudget.receiveBufferAllowance
        let budget = MemoryBudget(limit: 64 << 20, logger: quietLogger)
        let stats = ListenerStats()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(TCPEchoHandler(prefix: "", maxQueued: 64 << 20, stats: stats, logger: quietLogger, budget: budget))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        var buffer = EchoReceiveAllocator().buffer(allocator: ByteBufferAllocator())
        #expect(buffer.capacity == EchoReceiveAllocator.defaultCapacity)
        buffer.writeBytes([UInt8](repeating: 7, count: 100))
        try channel.writeInbound(buffer)
        #expect(budget.held == a + EchoReceiveAllocator.defaultCapacity)
        _ = try? channel.finish()
    }

    @Test("No size hint and never asks to grow, so NIO's pool keeps one buffer and reuses it")
    func oneBuffer() {
        var allocator = EchoReceiveAllocator()
        #expect(allocator.nextBufferSize() == nil)
        #expect(allocator.record(actualReadBytes: EchoReceiveAllocator.defaultCapacity) == false)
        #expect(allocator.record(actualReadBytes: 1) == false)
        // Through NIO's pool as BaseStreamSocketChannel drives it: reads while an earlier buffer
        // is still queued (held here) get fresh storage; the pool itself stores only one.
        var pool = NIOPooledRecvBufferAllocator(capacity: 4, recvAllocator: allocator)
        var held: [ByteBuffer] = []
        for _ in 0..<4 {
            let (b, _) = pool.buffer(allocator: ByteBufferAllocator()) { $0.writeInteger(UInt8(1)) }
            pool.record(actualReadBytes: 1)
            held.append(b)
        }
        #expect(pool.count == 1)
        #expect(held.allSatisfy { $0.capacity == EchoReceiveAllocator.defaultCapacity })
        held.removeAll()
        let (again, _) = pool.buffer(allocator: ByteBufferAllocator()) { $0.writeInteger(UInt8(2)) }
        #expect(pool.count == 1 && again.capacity == EchoReceiveAllocator.defaultCapacity)
    }
}

@Suite("AcceptFailure")
struct AcceptFailureTests {
    @Test("EMFILE and ENFILE are the fd limit; ENOBUFS and ENOMEM back off too; ECONNABORTED does not")
    func classify() {
        #expect(AcceptFailure(errno: EMFILE) == .fdLimit)
        #expect(AcceptFailure(errno: ENFILE) == .fdLimit)
        #expect(AcceptFailure(errno: ENOBUFS) == .kernelMemory)
        #expect(AcceptFailure(errno: ENOMEM).backsOff)
        #expect(!AcceptFailure(errno: ECONNABORTED).backsOff)
    }
}

@Suite("FileDescriptorBudget")
struct FileDescriptorBudgetTests {
    func config(_ maxConnections: [Int], threads: Int = 1) -> Configuration {
        var c = Configuration(listeners: maxConnections.enumerated().map { i, n in
            var t = TCPEchoSpec(listen: Endpoint(address: .v4(0x7F00_0001), port: 2000 + i))
            t.maxConnections = n
            return ListenerSpec(name: "e\(i)", kindSpec: t)
        })
        c.eventLoopThreads = threads
        return c
    }

    @Test("maxConnections of every tcp-echo listener plus the daemon's own descriptors")
    func need() {
        let b = FileDescriptorBudget(config([1000, 24], threads: 2))
        #expect(b.connections == 1024)
        #expect(b.own == 16 + 6 + 4)
    }

    @Test("No warning when it fits; a warning with the numbers and the fix when it does not")
    func warning() {
        #expect(config([1000]).fileDescriptorWarning(file: "c.json", limit: 1024) == nil)
        let w = config([1024]).fileDescriptorWarning(file: "c.json", limit: 1024)
        #expect(w?.description == "c.json: warning: listeners: the tcp-echo listeners' maxConnections add up to 1024, plus 21 file descriptors the daemon needs for itself, but RLIMIT_NOFILE is 1024: at the limit new connections wait in the backlog until others close; raise the limit (LimitNOFILE=2048 in the unit) or lower maxConnections")
    }
}

@Suite("Hostile-peer configuration keys")
struct HostileConfigTests {
    func decode(_ text: String) -> Result<Configuration, ConfigurationError> {
        ConfigurationDecoder.decode(text, file: "c.json")
    }

    @Test("memoryBudget defaults to 64 MiB and is read in bytes; buffer sizes are unset unless given")
    func keys() throws {
        let plain = try decode(#"{"listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:1"}]}"#).get()
        #expect(plain.memoryBudget == 64 << 20)
        guard let t0 = plain.listeners[0].kindSpec(as: TCPEchoSpec.self) else { Issue.record("kind"); return }
        #expect(t0.sendBufferSize == nil && t0.receiveBufferSize == nil)
        let set = try decode(#"{"memoryBudget": 8388608, "listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:1", "sendBufferSize": 65536, "receiveBufferSize": 131072}]}"#).get()
        #expect(set.memoryBudget == 8 << 20)
        guard let t = set.listeners[0].kindSpec(as: TCPEchoSpec.self) else { Issue.record("kind"); return }
        #expect(t.sendBufferSize == 65536 && t.receiveBufferSize == 131072)
    }

    @Test("Out-of-range values and keys on the wrong kind are errors")
    func errors() {
        guard case .failure(let e) = decode(#"{"memoryBudget": 1000, "listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:1", "sendBufferSize": 10}, {"name": "u", "kind": "udp-responder", "listen": "127.0.0.1:2", "receiveBufferSize": 65536}]}"#) else {
            Issue.record("accepted")
            return
        }
        let text = "\(e)"
        #expect(text.contains("memoryBudget"))
        #expect(text.contains("listeners[0].sendBufferSize"))
        #expect(text.contains("listeners[1].receiveBufferSize") && text.contains("tcp-echo"))
    }
}
