#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// The test-only kind through the parts of a kind's life beyond serving: its socket stored in
/// and adopted from the fd store across a restart between two supervisors, a socket-activated
/// fd, its extras through the daemon's outputs, and its relay edge in check-config's loop check.
@Suite("The table of kinds: a kind's whole life")
struct TestKindLifeTests {
    static let kinds = KindTableTests.kinds
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func config(_ listeners: String) throws -> Configuration {
        try ConfigurationDecoder.decode(#"{"listeners": [\#(listeners)]}"#, file: "test.json", kinds: kinds).get()
    }

    /// Sends `count` datagrams to 127.0.0.1:`port` from a fresh socket.
    static func send(_ count: Int, to port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var to = sockaddr_in()
        to.sin_family = sa_family_t(AF_INET)
        to.sin_port = in_port_t(UInt16(port).bigEndian)
        to.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        for _ in 0..<count {
            _ = withUnsafePointer(to: &to) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, "x", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
    }

    static func received(_ supervisor: Supervisor, _ n: Int) async throws -> ListenerSnapshot {
        // Loopback delivers at once; the bound only keeps a broken build from hanging.
        for _ in 0..<500 where await supervisor.listenerSnapshots().first?.value(.datagramsIn) != n {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        return try #require(await supervisor.listenerSnapshots().first)
    }

    static func port(_ s: ListenerSnapshot) throws -> Int { try #require(Int(s.address.split(separator: ":").last ?? "")) }

    @Test("Restart through the fd store: the first supervisor stores the socket, datagrams sent meanwhile wait in it, the second adopts it")
    func fdStoreAcrossTwoSupervisors() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fake = FakeFDStore()
        let config = try Self.config(#"{"name": "sink", "kind": "udp-discard", "listen": "127.0.0.1:0"}"#)
        let first = Supervisor(configuration: config, context: ListenerContext(group: group, logger: Self.logger,
                                                                              fdStore: FileDescriptorStore(capacity: 4, notifier: fake), kinds: Self.kinds))
        try await first.start()
        #expect(fake.names == ["listen/sink"])
        let port = try Self.port(try #require(await first.listenerSnapshots().first))
        Self.send(2, to: port)
        #expect(try await Self.received(first, 2).value(.datagramsIn) == 2)
        #expect(await first.shutdownForHandOver() == 0)
        Self.send(3, to: port)

        let log = RecordedLog()
        let next = Supervisor(configuration: config, context: ListenerContext(group: group, logger: log.logger, sockets: InheritedSockets(fake.handOut()),
                                                                             fdStore: FileDescriptorStore(capacity: 4, notifier: fake), kinds: Self.kinds))
        try await next.start()
        let adopted = try await Self.received(next, 3)
        #expect(adopted.value(.datagramsIn) == 3, "the datagrams sent between the two instances")
        #expect(adopted.value(.socketsAdopted) == 1 && adopted.address == "127.0.0.1:\(port)")
        #expect(log.messages(atLeast: .info).contains { $0.hasSuffix("(listen/sink) from the previous instance for udp-discard \"sink\" on 127.0.0.1:0") && $0.hasPrefix("Adopted fd ") })
        #expect(await next.statusLine().contains("adopted 1 listening socket and 0 connections from the previous instance"))
        #expect(fake.names == ["listen/sink"], "back in the store for the next restart")
        await next.shutdown()
        for (_, fd) in fake.entries { close(fd) }
        try await group.shutdownGracefully()
    }

    @Test("Socket activation: a bound fd named after the listener is adopted (not counted as from the store); a stream socket is refused with the directive")
    func socketActivation() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let local = try #require(FakeFDStore.localAddress(fd))
        let config = try Self.config(#"{"name": "sink", "kind": "udp-discard", "listen": "\#(local)"}"#)
        let log = RecordedLog()
        let supervisor = Supervisor(configuration: config, context: ListenerContext(
            group: group, logger: log.logger, sockets: InheritedSockets([InheritedSocket(fd: fd, name: "sink", type: .datagram, localAddress: local)]), kinds: Self.kinds))
        try await supervisor.start()
        #expect(log.messages(atLeast: .info).contains("Adopted socket-activated fd \(fd) (sink) for udp-discard \"sink\" on \(local)"))
        Self.send(2, to: local.port)
        let s = try await Self.received(supervisor, 2)
        #expect(s.value(.datagramsIn) == 2 && s.value(.socketsAdopted) == 0)
        await supervisor.shutdown()

        let stream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let refused = Supervisor(configuration: config, context: ListenerContext(
            group: group, logger: Self.logger, sockets: InheritedSockets([InheritedSocket(fd: stream, name: "sink", type: .stream, localAddress: nil)]), kinds: Self.kinds))
        await #expect(throws: ListenerStartError.self) { try await refused.start() }
        do {
            try await refused.start()
        } catch {
            #expect("\(error)".hasSuffix("the socket named \"sink\" is a stream (TCP) socket, but udp-discard needs a datagram (UDP) socket; use ListenDatagram= in the .socket unit"))
        }
        close(stream)
        try await group.shutdownGracefully()
    }

    @Test("Its extras reach /metrics, /status.json, STATUS= and SIGUSR1 through the protocol")
    func extras() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let target = try await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let to = try #require(target.localAddress.flatMap(Endpoint.init))
        let config = try Self.config(#"{"name": "tee", "kind": "udp-discard", "listen": "127.0.0.1:0", "forward": "\#(to)"}"#)
        let log = RecordedLog()
        let supervisor = Supervisor(configuration: config, context: ListenerContext(group: group, logger: log.logger, kinds: Self.kinds))
        try await supervisor.start()
        Self.send(2, to: try Self.port(try #require(await supervisor.listenerSnapshots().first)))
        _ = try await Self.received(supervisor, 2)
        let snapshot = DaemonSnapshot(version: "test", startTime: 0, process: nil, listeners: await supervisor.listenerSnapshots(), reloads: ReloadFacts(lastTimestamp: 0),
                                      loopLateness: .empty, notReadyReason: nil, unhealthyReason: nil, statusLine: "")
        #expect(PrometheusExposition.render(snapshot).contains("netrelayd_test_forwarded_total{listener=\"tee\",kind=\"udp-discard\",to=\"\(to)\"} 2\n"))
        let json = StatusDocument.render(snapshot)
        #expect(json.contains(#""dropped": 0, "forwarded": 2, "notes": ["forwarded 2 to \#(to)"]"#))
        #expect(await supervisor.statusLine().hasSuffix("| udp 2 in, 0 out | \"tee\" forwarded 2"))
        await supervisor.logStatistics()
        #expect(log.messages(atLeast: .notice).contains { $0.hasSuffix(": datagrams in=2, forwarded=2") })
        await supervisor.shutdown()
        try await target.close()
        try await group.shutdownGracefully()
    }

    @Test("Its relay edge: check-config refuses two of them forwarding to each other, one forwarding to itself, one forwarding to a responder")
    func loops() {
        func errors(_ listeners: String) -> [String] {
            switch ConfigurationDecoder.decode(#"{"listeners": [\#(listeners)]}"#, file: "test.json", kinds: Self.kinds) {
            case .success: return []
            case .failure(let e): return e.issues.map(\.description)
            }
        }
        let pair = errors(#"{"name": "a", "kind": "udp-discard", "listen": "127.0.0.1:4001", "forward": "127.0.0.1:4002"}, {"name": "b", "kind": "udp-discard", "listen": "0.0.0.0:4002", "forward": "127.0.0.1:4001"}"#)
        #expect(pair == [#"test.json:1:92: listeners[0].forward: these listeners form a loop: "a" sends to 127.0.0.1:4002 and "b" hears it on 0.0.0.0:4002; "b" sends to 127.0.0.1:4001 and "a" hears it on 127.0.0.1:4001; every datagram would go round for ever, one more copy each pass; forward to a port no listener in the loop listens on"#])
        let own = errors(#"{"name": "a", "kind": "udp-discard", "listen": "127.0.0.1:4001", "forward": "127.0.0.1:4001"}"#)
        #expect(own == [#"test.json:1:92: listeners[0].forward: these listeners form a loop: "a" sends to 127.0.0.1:4001 and "a" hears it on 127.0.0.1:4001; every datagram would go round for ever, one more copy each pass; forward to a port no listener in the loop listens on"#])
        let responder = errors(#"{"name": "u", "kind": "udp-responder", "listen": "127.0.0.1:4002"}, {"name": "a", "kind": "udp-discard", "listen": "127.0.0.1:4001", "forward": "127.0.0.1:4002"}"#)
        #expect(responder == [#"test.json:1:160: listeners[1].forward: these listeners form a loop: "a" sends to 127.0.0.1:4002 and "u" hears it on 127.0.0.1:4002; "u" (udp-responder) replies to "a"; every datagram would go round for ever, one more copy each pass; forward to a port no listener in the loop listens on"#])
        #expect(errors(#"{"name": "a", "kind": "udp-discard", "listen": "127.0.0.1:4001", "forward": "127.0.0.1:4003"}"#).isEmpty)
    }
}
