#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetRelayShims
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// `eventLoopThreads` lowered across an fd-store restart: the previous instance's sockets past
/// the ones kept come back from the store, and what queued in them while no instance was
/// reading is answered by the socket kept, not lost with them.
@Suite("Stale datagram siblings across an fd-store restart")
struct StaleSiblingsTests {
    /// A UDP socket bound to 127.0.0.`host` (a source address of its own: the steering program
    /// picks the socket by source address), with a receive timeout.
    static func client(host: Int) -> CInt {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.\(host)")
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        return fd
    }

    static func send(_ fd: CInt, _ text: String, to port: Int) {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var t = text
        _ = t.withUTF8 { b in withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } }
    }

    static func receive(_ fd: CInt) -> String? {
        var buf = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
    }

    @Test("Four loops, then one: the datagrams queued in the three stored sockets not kept are answered from the port, and those sockets leave the store")
    func fourToOne() async throws {
        let four = MultiThreadedEventLoopGroup(numberOfThreads: 4)
        let fake = FakeFDStore()
        var config = try EveryLoopDatagramTests.udpConfig()
        config.eventLoopThreads = 4
        let first = Supervisor(configuration: config, context: ListenerContext(group: four, logger: EveryLoopDatagramTests.logger, fdStore: FileDescriptorStore(capacity: 8, notifier: fake)))
        try await first.start()
        #expect(fake.names.sorted() == ["listen/udp", "listen/udp/1", "listen/udp/2", "listen/udp/3"])
        let port = try #require(await first.listenerSnapshots().first?.address.split(separator: ":").last.flatMap { Int($0) })
        _ = await first.shutdownForHandOver()
        try await four.shutdownGracefully()

        // No instance reads now: the datagrams wait in the stored sockets, spread by source address.
        let clients = (1...48).map { Self.client(host: $0) }
        defer { clients.forEach { close($0) } }
        for (i, fd) in clients.enumerated() { Self.send(fd, "q\(i)", to: port) }

        let one = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var pinned = try EveryLoopDatagramTests.udpConfig(port)
        pinned.eventLoopThreads = 1
        let next = Supervisor(configuration: pinned, context: ListenerContext(group: one, logger: EveryLoopDatagramTests.logger, sockets: InheritedSockets(fake.handOut()),
                                                                          fdStore: FileDescriptorStore(capacity: 8, notifier: fake)))
        try await next.start()
        var answered = 0
        for (i, fd) in clients.enumerated() where Self.receive(fd) == "> q\(i)" { answered += 1 }
        #expect(answered == clients.count, "\(answered) of \(clients.count) queued datagrams answered")
        let removed = fake.messages.flatMap { $0 }.compactMap { m -> String? in
            if case .fdStoreRemove(let name) = m { return name }
            return nil
        }
        #expect(removed.sorted() == ["listen/udp/1", "listen/udp/2", "listen/udp/3"])
        // Still serving, on one socket.
        #expect(EveryLoopDatagramTests.exchange(port, "after") == "> after")
        await next.shutdown()
        for (_, fd) in fake.entries { close(fd) }
        try await one.shutdownGracefully()
    }
}
