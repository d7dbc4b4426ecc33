import Logging
import NIOCore
import NIOPosix
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// `Supervisor.reload` executing its plan through an injected factory of fake listeners: the
/// calls it makes and their order, the report, the log lines, and what runs afterwards. No sockets.
@Suite struct ReloadExecutorTests {
    /// A supervisor over fakes, started with `running`; the journal starts empty after the start.
    struct Harness {
        let network = FakeNetwork()
        let log = RecordedLog()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let supervisor: Supervisor

        init(_ running: [ListenerSpec], shutdownTimeout: Double = 10) async throws {
            var configuration = Configuration(listeners: running)
            configuration.shutdownTimeout = shutdownTimeout
            supervisor = Supervisor(configuration: configuration, context: ListenerContext(group: group, logger: log.logger),
                                    makeListener: network.factory)
            try await supervisor.start()
            network.clearJournal()
        }

        func reload(_ wanted: [ListenerSpec], _ edit: (inout Configuration) -> Void = { _ in }) async -> Supervisor.ReloadReport {
            var configuration = Configuration(listeners: wanted)
            edit(&configuration)
            return await supervisor.reload(to: configuration)
        }

        func errors() -> [String] { log.messages(atLeast: .error) }

        func finish() async throws {
            await supervisor.shutdown()
            try await group.shutdownGracefully()
        }
    }

    @Test("Start makes and starts every listener through the injected factory, in order")
    func startUsesTheFactory() async throws {
        let network = FakeNetwork()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let supervisor = Supervisor(configuration: Configuration(listeners: [echoSpec("a", port: 2000), echoSpec("b", port: 2001)]),
                                    context: ListenerContext(group: group, logger: RecordedLog().logger), makeListener: network.factory)
        try await supervisor.start()
        #expect(network.journal == ["make a:2000", "start a:2000", "make b:2001", "start b:2001"])
        await supervisor.shutdown()
        #expect(network.journal.suffix(2) == ["stop a:2000", "stop b:2001"])
        try await group.shutdownGracefully()
    }

    @Test("Every step kind in one reload, executed in the plan's order; the report and settings follow")
    func everyStepInOrder() async throws {
        let h = try await Harness([echoSpec("keep", port: 2000), echoSpec("change", port: 2001, prefix: "old:"),
                                   echoSpec("move", port: 2002), echoSpec("gone", port: 2003)])
        let wanted = [echoSpec("add", port: 2004), echoSpec("move", port: 2012), echoSpec("keep", port: 2000),
                      echoSpec("change", port: 2001, prefix: "new:")]
        let report = await h.reload(wanted)
        #expect(h.network.journal == [
            "stop gone:2003", "stop move:2002",
            "make add:2004", "start add:2004", "make move:2012", "start move:2012",
            "revalidate keep:2000", "update change:2001 grace 10.0s",
        ])
        #expect(report.added == ["add"] && report.changed == ["move", "change"] && report.removed == ["gone"] && report.unchanged == ["keep"])
        #expect(report.ok && report.summary == "1 added, 2 changed, 1 removed, 1 unchanged")
        #expect(h.log.messages(atLeast: .info).contains("Stopped tcp-echo \"gone\" on 127.0.0.1:2003: removed from the configuration"))
        #expect(await h.supervisor.running.listeners == wanted)
        #expect(await h.supervisor.listenerSnapshots().map(\.name) == ["add", "move", "keep", "change"])
        #expect(await h.supervisor.statusLine().hasSuffix("| reload 1 ok (1 added, 2 changed, 1 removed, 1 unchanged)"))
        try await h.finish()
        // The removed and the restarted listener drained in the background.
        #expect(Set(h.network.drains).isSuperset(of: ["drain gone:2003 grace 10.0s", "drain move:2002 grace 10.0s"]))
    }

    @Test("Retired listeners leave the drain table once drained: 40 restarting reloads leave none behind")
    func drainTableStaysBounded() async throws {
        let h = try await Harness([echoSpec("hop", port: 3000)])
        for i in 1...40 {
            let report = await h.reload([echoSpec("hop", port: 3000 + i)])
            #expect(report.ok && report.changed == ["hop"])
        }
        // Each drain task removes itself when it is done; wait for the last ones (bounded).
        for _ in 0..<500 where await h.supervisor.drainingCount > 0 { await Task.yield() }
        #expect(await h.supervisor.drainingCount == 0)
        #expect(h.network.drains.count == 40)
        try await h.finish()
    }

    @Test("A port moves from a removed listener to a new one: it is free when the new one binds")
    func portMovesToANewListener() async throws {
        let h = try await Harness([echoSpec("a", port: 2000)])
        let report = await h.reload([echoSpec("b", port: 2000)])
        #expect(h.network.journal == ["stop a:2000", "make b:2000", "start b:2000"])
        #expect(report.ok && report.added == ["b"] && report.removed == ["a"])
        try await h.finish()
    }

    @Test("Two listeners swap ports in one reload: both release, then both bind")
    func swapPorts() async throws {
        let h = try await Harness([echoSpec("a", port: 2000), echoSpec("b", port: 2001)])
        let report = await h.reload([echoSpec("a", port: 2001), echoSpec("b", port: 2000)])
        #expect(h.network.journal == ["stop a:2000", "stop b:2001", "make a:2001", "start a:2001", "make b:2000", "start b:2000"])
        #expect(report.ok && report.changed == ["a", "b"])
        try await h.finish()
    }

    @Test("A restart whose new spec cannot bind: the old spec comes back, the failure is reported and logged")
    func restartRollsBack() async throws {
        let old = echoSpec("echo", port: 2000, prefix: "a:")
        let h = try await Harness([old])
        h.network.takeByAnotherProcess(2009)
        let report = await h.reload([echoSpec("echo", port: 2009, prefix: "b:")])
        #expect(h.network.journal == ["stop echo:2000", "make echo:2009", "start-failed echo:2009", "make echo:2000", "start echo:2000"])
        let failure = "Failed to bind tcp-echo \"echo\" to 127.0.0.1:2009: address already in use"
        #expect(report.failures == [failure] && report.changed.isEmpty && report.unchanged.isEmpty)
        #expect(h.errors() == [failure + "; keeping its previous settings"])
        #expect(await h.supervisor.running.listeners == [old])
        #expect(await h.supervisor.notReadyReason == nil)
        #expect(await h.supervisor.statusLine().hasSuffix("| reload 1 FAILED for 1 listener(s): \(failure)"))
        try await h.finish()
    }

    @Test("A restart that cannot bind its new or its old port: the listener is down, and readiness says so")
    func restartWithoutRollbackLeavesItDown() async throws {
        let h = try await Harness([echoSpec("echo", port: 2000)])
        h.network.takeByAnotherProcess(2009)
        h.network.takeByAnotherProcess(2000)   // grabbed as soon as the daemon lets go of it
        let report = await h.reload([echoSpec("echo", port: 2009)])
        let revive = "Failed to bind tcp-echo \"echo\" to 127.0.0.1:2000: address already in use"
        #expect(report.failures.count == 2 && report.failures.last == revive)
        #expect(h.errors().last == revive + "; the listener is down until the next reload")
        #expect(await h.supervisor.running.listeners.isEmpty)
        #expect(await h.supervisor.notReadyReason == "listener \"echo\" is down: \(revive)")
        #expect(await h.supervisor.listenerSnapshots().map(\.state) == [.down(revive)])
        try await h.finish()
    }

    @Test("A new listener that cannot bind is not started, the rest applies")
    func addThatFails() async throws {
        let h = try await Harness([echoSpec("a", port: 2000)])
        h.network.takeByAnotherProcess(2005)
        let report = await h.reload([echoSpec("a", port: 2000), echoSpec("new", port: 2005)])
        #expect(report.unchanged == ["a"] && report.added.isEmpty && !report.ok)
        #expect(h.errors() == ["Failed to bind tcp-echo \"new\" to 127.0.0.1:2005: address already in use; not started"])
        #expect(await h.supervisor.notReadyReason?.hasPrefix("listener \"new\" is down: ") == true)
        try await h.finish()
    }

    @Test("An update in place that fails is a failed reload; the listener runs on as it was")
    func failedUpdate() async throws {
        let h = try await Harness([echoSpec("relay", port: 2000, prefix: "old:")])
        h.network.failRevalidation(of: "relay")
        let report = await h.reload([echoSpec("relay", port: 2000, prefix: "new:")])
        #expect(h.network.journal == ["update relay:2000 grace 10.0s"])
        #expect(!report.ok && report.changed.isEmpty && report.unchanged == ["relay"])
        #expect(report.failures == ["tcp-echo \"relay\" on 127.0.0.1:2000 could not be updated in place; it keeps running as it was"])
        #expect(await h.supervisor.running.listeners == [echoSpec("relay", port: 2000, prefix: "old:")])
        #expect(await h.supervisor.statusLine().contains("reload 1 FAILED"))
        try await h.finish()
    }

    @Test("An unchanged listener whose revalidation fails keeps running with what it had")
    func keepWhoseRevalidationFails() async throws {
        let h = try await Harness([echoSpec("relay", port: 2000)])
        h.network.failRevalidation(of: "relay")
        let report = await h.reload([echoSpec("relay", port: 2000)])
        #expect(h.network.journal == ["revalidate relay:2000"])
        #expect(report.unchanged == ["relay"] && report.failures.count == 1)
        #expect(h.errors() == ["Failed to look up tcp-echo \"relay\" to 127.0.0.1:2000: interface \"eth9\" is gone; keeping its previous settings"])
        #expect(await h.supervisor.listenerSnapshots().map(\.state) == [.up])
        try await h.finish()
    }

    @Test("Settings: an update uses the new shutdownTimeout, a removed listener drains under the old; eventLoopThreads waits")
    func settingsAndGracePeriods() async throws {
        let h = try await Harness([echoSpec("change", port: 2000), echoSpec("gone", port: 2001)], shutdownTimeout: 10)
        let report = await h.reload([echoSpec("change", port: 2000, prefix: "v2:")]) {
            $0.shutdownTimeout = 3
            $0.eventLoopThreads = 4
            $0.statusInterval = 7
            $0.memoryBudget = 1 << 20
        }
        #expect(h.network.journal == ["stop gone:2001", "update change:2000 grace 3.0s"])
        #expect(report.notes == ["eventLoopThreads 4 takes effect at the next restart (running with 1)"])
        let running = await h.supervisor.running
        #expect(running.shutdownTimeout == 3 && running.statusInterval == 7 && running.memoryBudget == 1 << 20)
        #expect(running.eventLoopThreads == 1)
        try await h.finish()
        #expect(h.network.drains.contains("drain gone:2001 grace 10.0s"))
    }
}
