import Logging
import NIOCore
import NIOPosix
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// The skeleton every kind shares, through real listeners on loopback port 0: the typed spec at
/// the supervisor's edge, the phase through start and stop, and the shared log lines.
@Suite("Typed listener skeleton")
struct TypedListenerTests {
    static let loopback = Endpoint(address: .v4(0x7F00_0001), port: 0)

    func context(_ group: MultiThreadedEventLoopGroup, _ log: RecordedLog) -> ListenerContext {
        ListenerContext(group: group, logger: log.logger)
    }

    @Test("Another kind's spec, or another name, is refused by canUpdate and ignored by update")
    func mismatchRefused() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let log = RecordedLog()
        let echo = TCPEchoListener(name: "e", spec: TCPEchoSpec(listen: Self.loopback), context: context(group, log), budget: MemoryBudget(logger: log.logger))
        let udp = ListenerSpec(name: "e", kindSpec: UDPResponderSpec(listen: Self.loopback))
        var prefixed = TCPEchoSpec(listen: Self.loopback)
        prefixed.replyPrefix = "p:"
        #expect(echo.canUpdate(to: ListenerSpec(name: "e", kindSpec: prefixed)))
        #expect(!echo.canUpdate(to: udp))
        #expect(!echo.canUpdate(to: ListenerSpec(name: "other", kindSpec: prefixed)))
        #expect(await echo.update(to: udp, gracePeriod: .zero) == false)
        #expect(echo.spec == ListenerSpec(name: "e", kindSpec: TCPEchoSpec(listen: Self.loopback)))
        #expect(log.messages(atLeast: .error).contains { $0.hasPrefix("Cannot update tcp-echo \"e\" on 127.0.0.1:0 in place to udp-responder \"e\"") })

        let relay = BroadcastListener(name: "b", spec: BroadcastSpec(listen: Self.loopback, target: .address(Endpoint(address: .v4(0x7FFF_FFFF), port: 9))), context: context(group, log))
        #expect(!relay.canUpdate(to: ListenerSpec(name: "b", kindSpec: UDPResponderSpec(listen: Self.loopback))))
        try await group.shutdownGracefully()
    }

    @Test("tcp-echo: idle → starting → running → stopping → stopped, with the Listening and Updated lines")
    func tcpEchoLife() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let log = RecordedLog()
        let echo = TCPEchoListener(name: "e", spec: TCPEchoSpec(listen: Self.loopback), context: context(group, log), budget: MemoryBudget(logger: log.logger))
        #expect(echo.phase == .idle)
        try await echo.start()
        #expect(echo.phase == .running)
        let port = try #require(Endpoint.parse(echo.localDescription).get().port as Int?)
        #expect(port != 0)
        #expect(log.messages(atLeast: .info).contains("Listening: tcp-echo \"e\" on 127.0.0.1:\(port) (maxConnections 1024, idleTimeout 300 s)"))

        var prefixed = TCPEchoSpec(listen: Self.loopback)
        prefixed.replyPrefix = "p:"
        #expect(await echo.update(to: ListenerSpec(name: "e", kindSpec: prefixed), gracePeriod: .zero))
        #expect(log.messages(atLeast: .info).contains("Updated tcp-echo \"e\" on 127.0.0.1:0 in place (maxConnections 1024, idleTimeout 300 s, replyPrefix \"p:\")"))
        #expect(echo.spec.kindSpec(as: TCPEchoSpec.self) == prefixed)

        await #expect(throws: ListenerStartError.self) { try await echo.start() }
        await echo.stopAccepting()
        #expect(echo.phase == .stopping)
        await echo.drain(gracePeriod: .zero)
        #expect(echo.phase == .stopped)
        try await group.shutdownGracefully()
    }

    @Test("udp-responder: the shared lines carry the role's details; stop before start ends the life")
    func datagramLines() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let log = RecordedLog()
        var spec = UDPResponderSpec(listen: Self.loopback)
        spec.replyPrefix = "re:"
        let responder = UDPResponderListener(name: "u", spec: spec, context: context(group, log))
        try await responder.start()
        let port = try #require(Endpoint.parse(responder.localDescription).get().port as Int?)
        let details = UDPResponderRole.describe(spec, sizing: UDPResponderRole.sizing(spec))
        #expect(details.hasPrefix("replyPrefix \"re:\", "))
        #expect(log.messages(atLeast: .info).contains("Listening: udp-responder \"u\" on 127.0.0.1:\(port) (\(details))"))
        await responder.stopAccepting()
        await responder.drain(gracePeriod: .zero)
        #expect(responder.phase == .stopped)

        let never = UDPResponderListener(name: "n", spec: spec, context: context(group, log))
        await never.stopAccepting()
        #expect(never.phase == .stopped)
        await #expect(throws: ListenerStartError.self) { try await never.start() }
        #expect(never.channel == nil)
        try await group.shutdownGracefully()
    }
}
