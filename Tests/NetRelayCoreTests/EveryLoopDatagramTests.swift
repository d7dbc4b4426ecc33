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

/// `eventLoopThreads` N > 1 for datagram listeners: the shares of a listener-wide limit, the fd
/// store's names for N sockets, and what an inherited socket allows.
@Suite("Every event loop: datagram sockets, limits and the fd store")
struct EveryLoopDatagramTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("A listener-wide rate splits evenly; the burst shares add up to the burst; one socket keeps it all")
    func shares() {
        #expect(DatagramSpread.share(rate: 1000, burst: 2000, index: 0, count: 1) == (1000, 2000))
        #expect(DatagramSpread.share(rate: 1000, burst: 2000, index: 1, count: 2) == (500, 1000))
        let bursts = (0..<3).map { DatagramSpread.share(rate: 10, burst: 7, index: $0, count: 3).burst }
        #expect(bursts == [3, 2, 2])
        #expect(DatagramSpread.share(rate: 0, burst: 1, index: 3, count: 4) == (0, 1))  // never below 1; 0 stays "no limit"
        let any = Endpoint(address: .v4(0), port: 9)
        #expect(UDPResponderSpec(listen: any).footprint(eventLoops: 4) == ListenerFootprint(sockets: 4, storedSockets: 4))
        #expect(BroadcastSpec(listen: any, target: .address(any)).footprint(eventLoops: 4) == ListenerFootprint(sockets: 1, storedSockets: 1))
    }

    @Test("The responder's share: totalRateLimit per socket; the per-source limit is untouched")
    func responderShare() throws {
        var udp = UDPResponderSpec(listen: try Endpoint.parse("127.0.0.1:0").get())
        udp.totalRateLimit = 900
        udp.totalRateLimitBurst = 1801
        let setup = UDPResponderSetup(udp, broadcastAddresses: [])
        let second = UDPResponderRole.share(setup, index: 1, of: 2)
        #expect(second.limits.total == RateLimit(rate: 450, burst: 900))
        #expect(UDPResponderRole.share(setup, index: 0, of: 2).limits.total.burst == 901)
        #expect(second.limits.perSource == setup.limits.perSource)
        // The drop line quotes the socket's share and says so; one socket: the old text.
        #expect(second.totalShare.describe() == "; this socket's share of the listener's 900/s, burst 1801, over 2 sockets")
        #expect(UDPResponderRole.share(setup, index: 0, of: 1).totalShare.describe() == "")
        #expect(setup.totalShare.describe() == "")
    }

    @Test("FDNAME= listen/NAME/KEY names a further socket (a udp-responder's Kth sibling: KEY K); the pool hands each out once; the rest is stale")
    func siblingNames() {
        #expect(StoredSocketName(parsing: "listen/udp/1") == .socket("udp", key: "1"))
        #expect(StoredSocketName(parsing: "listen/relay/eth0.10") == .socket("relay", key: "eth0.10"))
        #expect(StoredSocketName.socket("udp", key: "3").description == "listen/udp/3")
        for bad in ["listen/udp/", "listen//1", "listen/udp/1/2", "listen/udp/a b"] {
            #expect(StoredSocketName(parsing: bad) == nil, "\(bad)")
        }
        func s(_ fd: CInt, _ name: String) -> InheritedSocket { InheritedSocket(fd: fd, name: name, type: .datagram, localAddress: nil) }
        var pool = InheritedSocketPool([s(3, "listen/udp"), s(4, "listen/udp/1"), s(5, "listen/udp/2")])
        #expect(pool.take(.socket("udp", key: "1"))?.fd == 4)
        #expect(pool.take(.socket("udp", key: "1")) == nil)
        #expect(pool.take(.listener("udp"))?.fd == 3)
        #expect(pool.takeStale().map(\.fd) == [5])
    }

    @Test("The store's demand counts a socket per loop for a udp-responder; removing a listener removes its siblings")
    func demandAndRemove() throws {
        var config = Configuration(listeners: [ListenerSpec(name: "udp", kindSpec: UDPResponderSpec(listen: try Endpoint.parse("127.0.0.1:2001").get()))])
        #expect(FileDescriptorStore.demand(config) == 1)
        config.eventLoopThreads = 4
        #expect(FileDescriptorStore.demand(config) == 4)
        let fake = FakeFDStore()
        let store = FileDescriptorStore(capacity: 8, notifier: fake)
        #expect(store.store(0, as: .listener("udp")) && store.store(0, as: .socket("udp", key: "1")) && store.store(0, as: .socket("udpx", key: "1")))
        store.removeListener("udp")
        #expect(fake.names == ["listen/udpx/1"])
        for (_, fd) in fake.entries { close(fd) }
    }

    static func exchange(_ port: Int, _ text: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var t = text
        _ = t.withUTF8 { b in withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } }
        var buf = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
    }

    static func udpConfig(_ port: Int = 0) throws -> Configuration {
        var udp = UDPResponderSpec(listen: try Endpoint.parse("127.0.0.1:\(port)").get())
        udp.replyPrefix = "> "
        var config = Configuration(listeners: [ListenerSpec(name: "udp", kindSpec: udp)])
        config.eventLoopThreads = 2
        return config
    }

    @Test("Two loops: two sockets, stored as listen/udp and listen/udp/1; the next instance adopts both and answers")
    func storeAndAdoptBoth() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let fake = FakeFDStore()
        let config = try Self.udpConfig()
        let first = Supervisor(configuration: config, context: ListenerContext(group: group, logger: Self.logger, fdStore: FileDescriptorStore(capacity: 8, notifier: fake)))
        try await first.start()
        #expect(fake.names.sorted() == ["listen/udp", "listen/udp/1"])
        let port = try #require(await first.listenerSnapshots().first?.address.split(separator: ":").last.flatMap { Int($0) })
        #expect(Self.exchange(port, "one") == "> one")
        _ = await first.shutdownForHandOver()

        let pinned = try Self.udpConfig(port)
        let next = Supervisor(configuration: pinned, context: ListenerContext(group: group, logger: Self.logger, sockets: InheritedSockets(fake.handOut()),
                                                                            fdStore: FileDescriptorStore(capacity: 8, notifier: fake)))
        try await next.start()
        let stats = try #require(await next.listenerSnapshots().first)
        #expect(stats.counters[Counter.allCases.firstIndex(of: .socketsAdopted)!] == 2)
        for i in 0..<8 { #expect(Self.exchange(port, "m\(i)") == "> m\(i)") }
        await next.shutdown()
        for (_, fd) in fake.entries { close(fd) }
        try await group.shutdownGracefully()
    }

    @Test("One loop, then two across an fd-store restart: the stored socket gets SO_REUSEPORT and a sibling joins it on the other loop")
    func storedSocketGrowsToTwo() async throws {
        let one = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fake = FakeFDStore()
        var config = try Self.udpConfig()
        config.eventLoopThreads = 1
        let first = Supervisor(configuration: config, context: ListenerContext(group: one, logger: Self.logger, fdStore: FileDescriptorStore(capacity: 8, notifier: fake)))
        try await first.start()
        #expect(fake.names == ["listen/udp"])
        let port = try #require(await first.listenerSnapshots().first?.address.split(separator: ":").last.flatMap { Int($0) })
        _ = await first.shutdownForHandOver()
        let stored = fake.handOut()
        #expect(stored.allSatisfy { !RawSocketOption.reusePort(of: $0.fd) })

        let two = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let spec = try #require(try Self.udpConfig(port).listeners[0].kindSpec(as: UDPResponderSpec.self))
        let listener = UDPResponderListener(name: "udp", spec: spec, context: ListenerContext(group: two, logger: Self.logger, sockets: InheritedSockets(stored),
                                                                                       fdStore: FileDescriptorStore(capacity: 8, notifier: fake)))
        try await listener.start()
        let channels = listener.channels
        #expect(channels.count == 2)
        #expect(Set(channels.map { ObjectIdentifier($0.eventLoop) }).count == 2, "one socket per loop")
        #expect(fake.names.sorted() == ["listen/udp", "listen/udp/1"])
        for i in 0..<6 { #expect(Self.exchange(port, "s\(i)") == "> s\(i)") }
        await listener.stopAccepting()
        for (_, fd) in fake.entries { close(fd) }
        try await one.shutdownGracefully()
        try await two.shutdownGracefully()
    }

    static func boundUDP(reusePort: Bool) -> (CInt, Endpoint?) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var one: CInt = 1
        if reusePort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<CInt>.size)) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        return (fd, FakeFDStore.localAddress(fd))
    }

    @Test("A socket-activated socket: with SO_REUSEPORT it gets a sibling on the other loop; without, it serves alone", arguments: [true, false])
    func socketActivated(reusePort: Bool) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let (fd, local) = Self.boundUDP(reusePort: reusePort)
        let port = try #require(local?.port)
        let spec = try #require(try Self.udpConfig(port).listeners[0].kindSpec(as: UDPResponderSpec.self))
        let sockets = InheritedSockets([InheritedSocket(fd: fd, name: "udp", type: .datagram, localAddress: local)])
        let listener = UDPResponderListener(name: "udp", spec: spec, context: ListenerContext(group: group, logger: Self.logger, sockets: sockets))
        try await listener.start()
        let channels = listener.channels
        #expect(channels.count == (reusePort ? 2 : 1))
        #expect(Set(channels.compactMap { $0.localAddress?.port }) == [port])
        #expect(Set(channels.map { ObjectIdentifier($0.eventLoop) }).count == channels.count, "one socket per loop")
        for i in 0..<6 { #expect(Self.exchange(port, "a\(i)") == "> a\(i)") }
        await listener.stopAccepting()
        try await group.shutdownGracefully()
    }

    @Test("Two loops without reusePort in the config: a port another socket holds (even with SO_REUSEPORT) fails the start, as with one loop")
    func portTakenWithTwoLoops() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let (squatter, local) = Self.boundUDP(reusePort: true)
        defer { close(squatter) }
        let port = try #require(local?.port)
        let spec = try #require(try Self.udpConfig(port).listeners[0].kindSpec(as: UDPResponderSpec.self))
        let listener = UDPResponderListener(name: "udp", spec: spec, context: ListenerContext(group: group, logger: Self.logger))
        await #expect(throws: ListenerStartError.self) { try await listener.start() }
        #expect(listener.channels.isEmpty)
        try await group.shutdownGracefully()
    }
}
