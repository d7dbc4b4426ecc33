import Logging
import NIOCore
import NIOPosix
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// A restart's hand-over and the next start's adoption, in the order the supervisor drives
/// them, over fake listeners (no sockets): what `Listener.handOver` and
/// `Listener.adoptConnections` are asked, and when.
@Suite struct SupervisorHandOverTests {
    @Test("Hand-over: every listener stops accepting before any hands over; retired ones finish draining; the stored counts add up")
    func handOverOrder() async throws {
        let network = FakeNetwork()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = Configuration(listeners: [echoSpec("a", port: 2000), echoSpec("b", port: 2001), echoSpec("old", port: 2002)])
        configuration.shutdownTimeout = 3
        let supervisor = Supervisor(configuration: configuration, context: ListenerContext(group: group, logger: RecordedLog().logger),
                                    makeListener: network.factory)
        try await supervisor.start()
        // "old" is retired by a reload and drains in the background.
        configuration.listeners.removeLast()
        _ = await supervisor.reload(to: configuration)
        network.setOpenConnections(3, of: "a")
        network.setOpenConnections(2, of: "b")
        network.clearJournal()

        let stored = await supervisor.shutdownForHandOver()
        #expect(stored == 5)
        let journal = network.journal
        #expect(Array(journal.prefix(2)) == ["stop a:2000", "stop b:2001"])
        #expect(Set(journal.dropFirst(2)) == ["hand-over a:2000 grace 3.0s", "hand-over b:2001 grace 3.0s"])
        #expect(network.drains.contains("drain old:2002 grace 3.0s"), "a retired listener's drain is waited for")
        #expect(await supervisor.statusLine() == "Serving 0 listeners | reload 1 ok (0 added, 0 changed, 1 removed, 2 unchanged)")
        try await group.shutdownGracefully()
    }

    @Test("Adoption: once every listener started, each gets the connections stored under its name; entries nobody takes are discarded")
    func adoptionOrder() async throws {
        let network = FakeNetwork()
        let log = RecordedLog()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        func stored(_ name: String) -> InheritedSocket { InheritedSocket(fd: -1, name: name, type: .stream, localAddress: nil) }
        let sockets = InheritedSockets([stored("conn/b/1"), stored("conn/b/0"), stored("conn/gone/0"), stored("listen/b/x")])
        let supervisor = Supervisor(configuration: Configuration(listeners: [echoSpec("a", port: 2000), echoSpec("b", port: 2001)]),
                                    context: ListenerContext(group: group, logger: log.logger, sockets: sockets), makeListener: network.factory)
        try await supervisor.start()
        #expect(network.journal == ["make a:2000", "start a:2000", "make b:2001", "start b:2001", "adopt b:2001 conn/b/0,conn/b/1"])
        let notices = log.messages(atLeast: .notice)
        #expect(notices.contains("Closed fd -1 (conn/gone/0) from the previous instance and removed it from the file descriptor store: listener \"gone\" is no longer in the configuration"))
        #expect(notices.contains("Closed fd -1 (listen/b/x) from the previous instance and removed it from the file descriptor store: listener \"b\" did not take it"))
        #expect(await supervisor.statusLine() == "Serving 2 listeners | tcp 0 open, 0 accepted | adopted 0 listening sockets and 2 connections from the previous instance")
        await supervisor.shutdown()
        try await group.shutdownGracefully()
    }
}
