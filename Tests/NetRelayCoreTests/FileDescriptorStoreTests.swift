#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// Plays systemd's part: keeps a duplicate of every fd sent with `.fdStore` under its name,
/// drops (closes) them on `.fdStoreRemove`, and records every notification.
final class FakeFDStore: ServiceNotifier, @unchecked Sendable {
    let lock = NIOLock()
    var messages: [[ServiceMessage]] = []
    var entries: [(name: String, fd: CInt)] = []

    func notify(_ messages: [ServiceMessage]) {
        lock.withLock {
            self.messages.append(messages)
            for case .fdStoreRemove(let name) in messages {
                entries.removeAll { e in
                    guard e.name == name else { return false }
                    close(e.fd)
                    return true
                }
            }
        }
    }

    func notify(_ messages: [ServiceMessage], fileDescriptors: [CInt]) -> Bool {
        lock.withLock {
            self.messages.append(messages)
            for case .fdStore(let name) in messages {
                for fd in fileDescriptors { entries.append((name, dup(fd))) }
            }
        }
        return true
    }

    /// What systemd passes to the next instance: the stored fds with their names (ownership moves).
    func handOut() -> [InheritedSocket] {
        lock.withLock {
            defer { entries = [] }
            return entries.map { e in
                var type: CInt = 0
                var len = socklen_t(MemoryLayout<CInt>.size)
                getsockopt(e.fd, SOL_SOCKET, SO_TYPE, &type, &len)
                let t: InheritedSocket.SocketType = type == CInt(SOCK_STREAM.rawValue) ? .stream : type == CInt(SOCK_DGRAM.rawValue) ? .datagram : .other(type)
                return InheritedSocket(fd: e.fd, name: e.name, type: t, localAddress: Self.localAddress(e.fd))
            }
        }
    }

    static func localAddress(_ fd: CInt) -> Endpoint? {
        var a = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) == 0 } }
        guard ok, a.sin_family == sa_family_t(AF_INET) else { return nil }
        return Endpoint(SocketAddress(a, host: ""))
    }

    var names: [String] { lock.withLock { entries.map(\.name) } }
}

@Suite("File descriptor store: names, matching, hand-over and adoption")
struct FileDescriptorStoreTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("FDNAME= values: listen/NAME and conn/NAME/N parse and print back; socket units' names are not ours")
    func names() {
        #expect(StoredSocketName(parsing: "listen/echo") == .listener("echo"))
        #expect(StoredSocketName(parsing: "conn/echo.v2/17") == .connection("echo.v2", 17))
        for plain in ["echo", "listen", "listen/", "conn/echo", "conn/echo/x", "conn//1", "conn/a/b/1", "conn/echo/-1", "listen/a/b/c", "listen/a/b:c"] {
            #expect(StoredSocketName(parsing: plain) == nil, "\(plain)")
        }
        #expect(StoredSocketName.listener("echo").description == "listen/echo")
        #expect(StoredSocketName.connection("echo", 3).description == "conn/echo/3")
        #expect(!"listen/echo".contains(":"))  // ':' separates LISTEN_FDNAMES; systemd refuses it
    }

    @Test("Matching: a socket unit's socket first, then the stored one; connections by listener in order; the rest is stale")
    func pool() {
        func s(_ fd: CInt, _ name: String, _ type: InheritedSocket.SocketType = .stream) -> InheritedSocket {
            InheritedSocket(fd: fd, name: name, type: type, localAddress: nil)
        }
        var pool = InheritedSocketPool([s(3, "listen/echo"), s(4, "echo"), s(5, "conn/echo/1"), s(6, "conn/echo/0"),
                                        s(7, "conn/other/0"), s(8, "listen/gone", .datagram), s(9, "stray")])
        #expect(pool.unclaimed.map(\.fd) == [4, 9])            // fd-store entries are never "unclaimed"
        #expect(pool.take(.listener("echo"))?.fd == 4)        // the socket unit's
        #expect(pool.take(.listener("echo"))?.fd == 3)        // then the stored one
        #expect(pool.take(.listener("echo")) == nil)
        #expect(pool.takeConnections(of: "echo").map(\.fd) == [6, 5])
        #expect(pool.takeConnections(of: "echo").isEmpty)
        #expect(pool.takeStale().map(\.fd) == [7, 8])
        #expect(pool.unclaimed.map(\.fd) == [9])
    }

    @Test("The store's size comes from NETRELAYD_FDSTORE_MAX (or $FDSTORE), and only under a service manager")
    func capacity() {
        #expect(FileDescriptorStore.capacity(environment: ["NETRELAYD_FDSTORE_MAX": "64"]) == 0)
        #expect(FileDescriptorStore.capacity(environment: ["NOTIFY_SOCKET": "/run/x", "NETRELAYD_FDSTORE_MAX": "64"]) == 64)
        #expect(FileDescriptorStore.capacity(environment: ["NOTIFY_SOCKET": "/run/x", "FDSTORE": "32"]) == 32)
        #expect(FileDescriptorStore.capacity(environment: ["NOTIFY_SOCKET": "/run/x", "FDSTORE": "32", "NETRELAYD_FDSTORE_MAX": "0"]) == 0)
        #expect(FileDescriptorStore.capacity(environment: ["NOTIFY_SOCKET": "/run/x"]) == 0)
    }

    @Test("Storing sends .fdStore with the name, stops at the capacity; a disabled store sends nothing")
    func storing() {
        let fake = FakeFDStore()
        let store = FileDescriptorStore(capacity: 2, notifier: fake)
        #expect(store.store(0, as: .listener("echo")))
        #expect(store.store(0, as: .connection("echo", 0)))
        #expect(!store.store(0, as: .connection("echo", 1)))
        #expect(fake.messages == [[.fdStore(name: "listen/echo")], [.fdStore(name: "conn/echo/0")]])
        store.remove(.connection("echo", 0))
        #expect(fake.messages.last == [.fdStoreRemove(name: "conn/echo/0")])
        #expect(fake.names == ["listen/echo"])
        #expect(store.store(0, as: .connection("echo", 1)))
        let off = FakeFDStore()
        #expect(!FileDescriptorStore(capacity: 0, notifier: off).store(0, as: .listener("echo")))
        #expect(off.messages.isEmpty)
        for (_, fd) in fake.entries { close(fd) }
    }

    @Test("The warning when the store cannot hold every listener plus maxConnections")
    func warning() throws {
        var tcp = TCPEchoSpec(listen: try Endpoint.parse("127.0.0.1:2000").get())
        tcp.maxConnections = 100
        let config = Configuration(listeners: [ListenerSpec(name: "echo", kindSpec: tcp),
                                               ListenerSpec(name: "udp", kindSpec: UDPResponderSpec(listen: try Endpoint.parse("127.0.0.1:2001").get()))])
        #expect(FileDescriptorStore.demand(config) == 102)
        #expect(FileDescriptorStore.warning(config, file: "c.json", capacity: 102) == nil)
        #expect(FileDescriptorStore.warning(config, file: "c.json", capacity: 0) == nil)
        #expect(FileDescriptorStore.warning(config, file: "c.json", capacity: 50)?.description.hasPrefix("c.json: warning: listeners: a restart would store 102 sockets (each listener plus the tcp-echo listeners' maxConnections) but the file descriptor store holds 50") == true)
    }

    /// A connection-holding spec of no real kind, whose limit has its own key and is not handed over.
    struct SessionSpec: KindSpec {
        static let kindName = "tcp-session"
        var listen: Endpoint
        var maxSessions: Int
        var address: ListenerAddress { .binds(listen, .tcp, reusePort: false) }
        var relay: RelayPart { .doesNotRelay }
        func footprint(eventLoops: Int) -> ListenerFootprint {
            ListenerFootprint(sockets: 1, storedSockets: 1, connections: ConnectionLimit(most: maxSessions, key: "maxSessions", handedOver: false))
        }
        func warnings(_ w: inout ListenerWarnings) {}
    }

    @Test("The fd warnings name each kind's own limit key, and the store counts only connections that are handed over")
    func warningsNameTheKindsKeys() throws {
        var tcp = TCPEchoSpec(listen: try Endpoint.parse("127.0.0.1:2000").get())
        tcp.maxConnections = 100
        let config = Configuration(listeners: [ListenerSpec(name: "echo", kindSpec: tcp),
                                               ListenerSpec(name: "s", kindSpec: SessionSpec(listen: try Endpoint.parse("127.0.0.1:2001").get(), maxSessions: 5000))])
        #expect(config.fileDescriptorWarning(file: "c.json", limit: 1024)?.message == "the tcp-echo listeners' maxConnections and the tcp-session listeners' maxSessions add up to 5100, plus 23 file descriptors the daemon needs for itself, but RLIMIT_NOFILE is 1024: at the limit new connections wait in the backlog until others close; raise the limit (LimitNOFILE=6144 in the unit) or lower maxConnections or maxSessions")
        #expect(FileDescriptorStore.demand(config) == 102)
        #expect(FileDescriptorStore.warning(config, file: "c.json", capacity: 50)?.message.hasPrefix("a restart would store 102 sockets (each listener plus the tcp-echo listeners' maxConnections) but") == true)
    }

    // MARK: A restart without systemd: one supervisor hands over, the next adopts

    static func connect(_ port: Int) throws -> CInt {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw IOError(errnoCode: errno, reason: "connect") }
        return fd
    }

    static func send(_ fd: CInt, _ text: String) {
        var t = text
        _ = t.withUTF8 { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Reads until `count` bytes came (or EOF/timeout after 5 s).
    static func receive(_ fd: CInt, count: Int) -> String {
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while got.count < count {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            got += buf[0..<n]
        }
        return String(decoding: got, as: UTF8.self)
    }

    /// Whether the peer closed: recv without waiting returns 0 (FIN) or ECONNRESET.
    static func peerClosed(_ fd: CInt) -> Bool {
        var b: UInt8 = 0
        let n = recv(fd, &b, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    @Test("Hand-over: the connection goes to the store without a FIN; the next supervisor adopts it and echoes, listener and all")
    func handOverAndAdopt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let fake = FakeFDStore()
        var tcp = TCPEchoSpec(listen: try Endpoint.parse("127.0.0.1:0").get())
        tcp.replyPrefix = "> "
        let config = Configuration(listeners: [ListenerSpec(name: "echo", kindSpec: tcp)])
        let first = Supervisor(configuration: config, context: ListenerContext(group: group, logger: Self.logger, fdStore: FileDescriptorStore(capacity: 16, notifier: fake)))
        try await first.start()
        #expect(fake.names == ["listen/echo"])
        let port = try #require(await first.listenerSnapshots().first?.address.split(separator: ":").last.flatMap { Int($0) })

        let client = try Self.connect(port)
        defer { close(client) }
        Self.send(client, "one\n")
        #expect(Self.receive(client, count: 6) == "> one\n")

        let stored = await first.shutdownForHandOver()
        #expect(stored == 1)
        #expect(fake.names.sorted() == ["conn/echo/0", "listen/echo"])
        #expect(!Self.peerClosed(client), "the hand-over must not close the connection")
        // Sent between the two instances: waits in the kernel.
        Self.send(client, "two\n")
        let waiting = try Self.connect(port)   // in the stored listening socket's backlog
        defer { close(waiting) }

        // The next instance, with a stale entry for a listener that is gone.
        let spare = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var spareStat = stat()
        fstat(spare, &spareStat)
        let spareInode = spareStat.st_ino
        let handed = fake.handOut() + [InheritedSocket(fd: spare, name: "listen/gone", type: .datagram, localAddress: nil)]
        let next = Supervisor(configuration: config, context: ListenerContext(group: group, logger: Self.logger, sockets: InheritedSockets(handed),
                                                                            fdStore: FileDescriptorStore(capacity: 16, notifier: fake)))
        try await next.start()
        #expect(Self.receive(client, count: 6) == "> two\n")
        Self.send(client, "three\n")
        #expect(Self.receive(client, count: 8) == "> three\n")
        Self.send(waiting, "queued\n")
        #expect(Self.receive(waiting, count: 9) == "> queued\n")
        let stats = try #require(await next.listenerSnapshots().first)
        #expect(stats.openConnections == 2)
        #expect(stats.counters[Counter.allCases.firstIndex(of: .connectionsAdopted)!] == 1)
        #expect(stats.counters[Counter.allCases.firstIndex(of: .socketsAdopted)!] == 1)
        #expect(fake.messages.contains([.fdStoreRemove(name: "conn/echo/0")]), "an adopted connection leaves the store")
        #expect(fake.messages.contains([.fdStoreRemove(name: "listen/gone")]))
        // Tests run in parallel: the number may name another test's new socket by now.
        var now = stat()
        #expect(fstat(spare, &now) != 0 || now.st_ino != spareInode, "the stale socket is closed")
        #expect(await next.statusLine().contains("adopted 1 listening socket and 1 connection from the previous instance"))

        // A plain shutdown (no store) closes the connection as before.
        await next.shutdown()
        #expect(Self.receive(client, count: 1) == "")
        for (_, fd) in fake.entries { close(fd) }
        try await group.shutdownGracefully()
    }

    @Test("A stored socket bound elsewhere than the config says is let go, and the listener binds anew")
    func storedSocketThatNoLongerMatches() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fake = FakeFDStore()
        let old = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(old, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(old, 8)
        let oldAddress = FakeFDStore.localAddress(old)
        // The config now wants a different (fixed) port than the one the stored socket has.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let freePort = FakeFDStore.localAddress(probe)!.port
        close(probe)
        let tcp = TCPEchoSpec(listen: try Endpoint.parse("127.0.0.1:\(freePort)").get())
        let supervisor = Supervisor(configuration: Configuration(listeners: [ListenerSpec(name: "echo", kindSpec: tcp)]),
                                    context: ListenerContext(group: group, logger: Self.logger,
                                                             sockets: InheritedSockets([InheritedSocket(fd: old, name: "listen/echo", type: .stream, localAddress: oldAddress)]),
                                                             fdStore: FileDescriptorStore(capacity: 4, notifier: fake)))
        try await supervisor.start()
        #expect(fake.messages.first == [.fdStoreRemove(name: "listen/echo")])
        #expect(await supervisor.listenerSnapshots().first?.address == "127.0.0.1:\(freePort)")
        // The old socket is closed (its fd number may already be reused): its port refuses.
        #expect(throws: IOError.self) { close(try Self.connect(oldAddress!.port)) }
        await supervisor.shutdown()
        for (_, fd) in fake.entries { close(fd) }
        try await group.shutdownGracefully()
    }
}
