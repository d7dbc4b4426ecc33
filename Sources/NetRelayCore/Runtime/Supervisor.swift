#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore

/// Owns the running listeners: starts them, applies a reloaded configuration as a diff, and
/// stops them. Also composes the one-line STATUS= summary.
public actor Supervisor {
    private let context: ListenerContext
    private let logger: Logger
    public private(set) var configuration: Configuration
    private var listeners: [any Listener] = []
    private var draining: [Task<Void, Never>] = []
    private var reloadCount = 0
    private var lastReload: String?
    /// Listeners of the configuration that failed to start on a reload, with the error.
    private var down: [(spec: ListenerSpec, reason: String)] = []
    /// What `/metrics` reports about reloads.
    public private(set) var reloadFacts = ReloadFacts(lastTimestamp: wallClockSeconds())
    private var started = false
    private var stopping = false
    /// "adopted 3 sockets and 42 connections from the previous instance", for STATUS=; nil when
    /// nothing came from systemd's fd store.
    public private(set) var adoption: String?

    public init(configuration: Configuration, context: ListenerContext) {
        self.configuration = configuration
        self.context = context
        self.logger = context.logger
    }

    private var gracePeriod: TimeAmount { .nanoseconds(Int64(configuration.shutdownTimeout * 1e9)) }

    /// Starts every listener. On the first failure, stops the ones already started and throws.
    public func start() async throws {
        for spec in configuration.listeners {
            let listener = ListenerFactory.make(spec, context: context)
            do {
                try await listener.start()
                listeners.append(listener)
            } catch {
                await stopAll(gracePeriod: .zero)
                throw error
            }
        }
        let extra = context.sockets.unclaimed()
        if !extra.isEmpty {
            await stopAll(gracePeriod: .zero)
            throw UnclaimedSocketsError(sockets: extra, listenerNames: configuration.listeners.map(\.name))
        }
        await adoptFromStore()
        started = true
    }

    /// What the previous instance left in systemd's fd store: its connections go to their
    /// listeners; entries whose listener is gone (or is no tcp-echo) are removed and closed.
    private func adoptFromStore() async {
        var connections = 0
        for l in listeners {
            let stored = context.sockets.takeConnections(of: l.spec.name)
            guard !stored.isEmpty else { continue }
            if let tcp = l as? TCPEchoListener {
                connections += await tcp.adoptConnections(stored)
            } else {
                for s in stored { TCPEchoListener.discardStored(s, store: context.fdStore, logger: logger, why: "\(l.spec.label) is not a tcp-echo listener") }
            }
        }
        let names = Set(configuration.listeners.map(\.name))
        for s in context.sockets.takeStale() {
            let listener = s.storedEntry?.listenerName ?? s.name
            TCPEchoListener.discardStored(s, store: context.fdStore, logger: logger,
                why: names.contains(listener) ? "listener \"\(listener)\" did not take it" : "listener \"\(listener)\" is no longer in the configuration")
        }
        let sockets = listeners.reduce(0) { $0 + $1.stats.value(.socketsAdopted) }
        guard sockets + connections > 0 else { return }
        let text = "\(sockets) listening socket\(sockets == 1 ? "" : "s") and \(connections) connection\(connections == 1 ? "" : "s") from the previous instance"
        adoption = "adopted " + text
        logger.info("Adopted \(text)", metadata: ["event": "adopted"])
    }

    // MARK: Reload

    /// What a reload did, for the log and STATUS=.
    public struct ReloadReport: Sendable {
        public var number: Int
        public var added: [String] = []
        public var changed: [String] = []
        public var removed: [String] = []
        public var unchanged: [String] = []
        public var failures: [String] = []
        public var notes: [String] = []

        public var ok: Bool { failures.isEmpty }

        public var summary: String {
            func part(_ n: Int, _ word: String) -> String { "\(n) \(word)" }
            return [part(added.count, "added"), part(changed.count, "changed"), part(removed.count, "removed"), part(unchanged.count, "unchanged")].joined(separator: ", ")
        }
    }

    /// Records a reload whose configuration did not load: nothing changes.
    public func reloadRejected(_ error: ConfigurationError) -> Int {
        reloadCount += 1
        lastReload = "reload \(reloadCount) FAILED, previous configuration kept: \(error.summary)"
        recordReload(ok: false)
        return reloadCount
    }

    /// Applies a new, valid configuration as a diff against what runs: unchanged listeners keep
    /// running (and their connections); changed ones are updated in place when their socket can
    /// stay, else restarted; removed ones close; new ones start. A listener that fails to start
    /// is reported, and a restarted one falls back to its previous spec.
    public func reload(to new: Configuration) async -> ReloadReport {
        reloadCount += 1
        var report = ReloadReport(number: reloadCount)
        let running = Dictionary(listeners.map { ($0.spec.name, $0) }, uniquingKeysWith: { a, _ in a })
        let wanted = Set(new.listeners.map(\.name))
        if new.eventLoopThreads != configuration.eventLoopThreads {
            report.notes.append("eventLoopThreads \(new.eventLoopThreads) takes effect at the next restart (running with \(configuration.eventLoopThreads))")
        }
        let oldGrace = gracePeriod
        configuration.shutdownTimeout = new.shutdownTimeout
        configuration.statusInterval = new.statusInterval
        configuration.logLevel = new.logLevel
        configuration.memoryBudget = new.memoryBudget
        context.memoryBudget.limit = new.memoryBudget
        configuration.http = new.http
        down = []

        enum Step { case keep(any Listener), update(any Listener, ListenerSpec), restart(any Listener, ListenerSpec), add(ListenerSpec) }
        var plan: [Step] = []
        for spec in new.listeners {
            if let old = running[spec.name] {
                if old.spec == spec { plan.append(.keep(old)) }
                else if old.canUpdate(to: spec) { plan.append(.update(old, spec)) }
                else { plan.append(.restart(old, spec)) }
            } else {
                plan.append(.add(spec))
            }
        }

        // Free every port that is going away before binding anything new, so a port can move
        // from one listener to another in one reload.
        let removed = listeners.filter { !wanted.contains($0.spec.name) }
        for old in removed {
            context.fdStore.remove(.listener(old.spec.name))
            await old.stopAccepting()
            retire(old, gracePeriod: oldGrace)
            report.removed.append(old.spec.name)
            logger.info("Stopped \(old.spec.label): removed from the configuration", metadata: ["event": "removed", "listener": .string(old.spec.name)])
        }
        for case .restart(let old, _) in plan {
            context.fdStore.remove(.listener(old.spec.name))
            await old.stopAccepting()
        }

        var next: [any Listener] = []
        for step in plan {
            switch step {
            case .keep(let l):
                do {
                    try await l.revalidate()
                } catch {
                    report.failures.append("\(error)")
                    logger.error("\(error); keeping its previous settings", metadata: ["event": "reload-error", "listener": .string(l.spec.name)])
                }
                next.append(l)
                report.unchanged.append(l.spec.name)
            case .update(let l, let spec):
                await l.update(to: spec, gracePeriod: gracePeriod)
                next.append(l)
                report.changed.append(spec.name)
            case .restart(let old, let spec):
                if let fresh = await startDuringReload(spec, &report, ifItFails: "keeping its previous settings") {
                    next.append(fresh)
                    report.changed.append(spec.name)
                } else if let revived = await startDuringReload(old.spec, &report, ifItFails: "the listener is down until the next reload") {
                    next.append(revived)
                } else {
                    down.append((spec, report.failures.last ?? "failed to start"))
                }
                retire(old, gracePeriod: oldGrace)
            case .add(let spec):
                if let fresh = await startDuringReload(spec, &report, ifItFails: "not started") {
                    next.append(fresh)
                    report.added.append(spec.name)
                } else {
                    down.append((spec, report.failures.last ?? "failed to start"))
                }
            }
        }
        listeners = next
        // What runs now is the new configuration, except where a listener kept its old spec.
        configuration.listeners = next.map(\.spec)
        if report.ok {
            lastReload = "reload \(report.number) ok (\(report.summary))"
        } else {
            lastReload = "reload \(report.number) FAILED for \(report.failures.count) listener(s): \(report.failures[0])"
        }
        recordReload(ok: report.ok)
        return report
    }

    /// Starts a listener for a reload; a failure is logged (with what it means) and reported.
    private func startDuringReload(_ spec: ListenerSpec, _ report: inout ReloadReport, ifItFails consequence: String) async -> (any Listener)? {
        var attempts = 0
        while true {
            let listener = ListenerFactory.make(spec, context: context)
            do {
                try await listener.start()
                return listener
            } catch let error as ListenerStartError where error.errno == EADDRINUSE && context.fdStore.enabled && attempts < 20 {
                // A restarted listener's old socket was just removed from the fd store, and
                // systemd closes its copy a moment after our FDSTOREREMOVE=1: wait for the port.
                attempts += 1
                try? await Task.sleep(nanoseconds: 50_000_000)
                continue
            } catch {
                report.failures.append("\(error)")
                logger.error("\(error); \(consequence)", metadata: ["event": "reload-error", "listener": .string(spec.name)])
                return nil
            }
        }
    }

    /// Lets a stopped listener's connections finish in the background.
    private func retire(_ listener: any Listener, gracePeriod: TimeAmount) {
        draining.removeAll { $0.isCancelled }
        draining.append(Task { await listener.drain(gracePeriod: gracePeriod) })
    }

    // MARK: Shutdown

    /// Stops accepting everywhere, then lets connections finish for up to `shutdownTimeout`.
    public func shutdown() async {
        stopping = true
        await stopAll(gracePeriod: gracePeriod)
    }

    /// Shutdown with systemd's fd store: the listening sockets stay in the store (closing ours
    /// does not close them: connections wait in the backlog, datagrams in the receive queue) and
    /// every tcp-echo connection that fits is handed over instead of drained. systemd cannot be
    /// told apart a stop from a restart; on a stop it closes the whole store itself. Returns the
    /// number of connections stored.
    public func shutdownForHandOver() async -> Int {
        stopping = true
        let all = listeners
        listeners = []
        for l in all { await l.stopAccepting() }
        let grace = gracePeriod
        var stored = 0
        await withTaskGroup(of: Int.self) { group in
            for l in all {
                group.addTask {
                    if let tcp = l as? TCPEchoListener { return await tcp.handOver(gracePeriod: grace) }
                    await l.drain(gracePeriod: grace)
                    return 0
                }
            }
            for await n in group { stored += n }
        }
        for task in draining { await task.value }
        draining = []
        return stored
    }

    private func stopAll(gracePeriod: TimeAmount) async {
        let all = listeners
        listeners = []
        for l in all { await l.stopAccepting() }
        await withTaskGroup(of: Void.self) { group in
            for l in all { group.addTask { await l.drain(gracePeriod: gracePeriod) } }
        }
        for task in draining { await task.value }
        draining = []
    }

    public var openConnections: Int {
        listeners.reduce(0) { $0 + $1.stats.open }
    }

    // MARK: Observability

    private func recordReload(ok: Bool) {
        if ok { reloadFacts.succeeded += 1 } else { reloadFacts.failed += 1 }
        reloadFacts.lastSuccessful = ok
        reloadFacts.lastTimestamp = wallClockSeconds()
        reloadFacts.lastSummary = lastReload
    }

    /// A reload whose listeners applied but whose other part (the HTTP endpoint) failed.
    public func reloadAlsoFailed(_ message: String) {
        if reloadFacts.lastSuccessful, reloadFacts.succeeded > 0 {
            reloadFacts.succeeded -= 1
            reloadFacts.failed += 1
        }
        reloadFacts.lastSuccessful = false
        lastReload = "reload \(reloadCount) FAILED: \(message)"
        reloadFacts.lastSummary = lastReload
    }

    /// Every configured listener, running or down, with its counters read now.
    public func listenerSnapshots() -> [ListenerSnapshot] {
        var all = listeners.map { l -> ListenerSnapshot in
            let kind = context.kinds.tag(of: l.spec)
            var snapshot = ListenerSnapshot(name: l.spec.name, kind: kind, address: l.localDescription, state: .up,
                                            openConnections: l.stats.open, counters: Counter.allCases.map { l.stats.value($0) },
                                            announcementLateness: kind.counters.contains(.missedDeadlines) ? l.stats.announcementLateness.snapshot() : nil)
            snapshot.relayTargets = l.stats.relayTargets.snapshot()
            return snapshot
        }
        for d in down {
            let address = d.spec.boundEndpoint?.description ?? d.spec.label
            all.append(ListenerSnapshot(name: d.spec.name, kind: context.kinds.tag(of: d.spec), address: address, state: .down(d.reason)))
        }
        return all
    }

    /// Nil when every listener is bound and none is down; else the reason, for `/-/ready`.
    public var notReadyReason: String? {
        if stopping { return "shutting down" }
        if !started { return "starting: binding listeners" }
        if let d = down.first {
            return "listener \"\(d.spec.name)\" is down: \(d.reason)" + (down.count > 1 ? " (and \(down.count - 1) more)" : "")
        }
        return nil
    }

    // MARK: Status

    /// One line for STATUS=, e.g.
    /// `Serving 4 listeners | tcp 3 open, 120 accepted, 2 refused | udp 1520 in, 1518 out, 2 dropped | 300 announcements | reload 1 ok (...)`.
    public func statusLine() -> String {
        var parts = ["Serving \(listeners.count) listener\(listeners.count == 1 ? "" : "s")"]
        var tally = StatusTally()
        for l in listeners { context.kinds.kind(of: l.spec)?.addStatus(l.stats, of: l.spec.name, to: &tally) }
        parts += tally.parts { FileDescriptorLimit.current().soft }
        for l in listeners {
            let skipped = l.stats.relayTargets.skippedSummary
            if !skipped.isEmpty { parts.append("\(l.spec.label) skips \(skipped.joined(separator: ", "))") }
        }
        if let adoption { parts.append(adoption) }
        if let lastReload { parts.append(lastReload) }
        return parts.joined(separator: " | ")
    }

    /// One log line per listener with its counters (SIGUSR1).
    public func logStatistics() {
        let budget = context.memoryBudget
        logger.notice("Memory held for peers that do not read: \(budget.held) of memoryBudget \(budget.limit) bytes", metadata: ["event": "statistics"])
        for l in listeners {
            logger.notice("\(l.spec.label): \(l.stats.summary())", metadata: ["event": "statistics", "listener": .string(l.spec.name)])
        }
    }
}

/// Socket-activated fds that no listener claimed: a mismatch between the .socket unit and the config.
public struct UnclaimedSocketsError: Error, CustomStringConvertible {
    public var sockets: [InheritedSocket]
    public var listenerNames: [String]

    public var description: String {
        let list = sockets.map { "fd \($0.fd) named \"\($0.name)\"" + ($0.localAddress.map { " (\($0))" } ?? "") }.joined(separator: ", ")
        return "Failed to adopt socket-activated \(list): no listener has that name (listeners: \(listenerNames.joined(separator: ", "))); set FileDescriptorName= in the .socket unit to the name of the listener that should serve it"
    }
}
