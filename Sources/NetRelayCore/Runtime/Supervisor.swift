#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import NetRelayConfig

/// Makes the listener for a spec (the supervisor's seam for tests: fakes instead of sockets).
public typealias ListenerMaker = @Sendable (ListenerSpec, ListenerContext) -> any Listener

/// Owns the running listeners: starts them, applies a reloaded configuration as a diff (a
/// `ReloadPlan`, executed in Supervisor+Reload.swift), and stops them. Also composes the
/// one-line STATUS= summary.
public actor Supervisor {
    let context: ListenerContext
    let logger: Logger
    /// Makes each listener from the context's table of kinds, unless a test injects fakes.
    let makeListener: ListenerMaker
    /// What runs now; changed only by `reload(to:)`.
    public internal(set) var running: RunningConfiguration
    var listeners: [any Listener] = []
    /// Retired listeners still draining, by a serial number; each removes itself when done, so
    /// the table holds only what is in flight however many reloads there have been.
    var draining: [Int: Task<Void, Never>] = [:]
    var drainSerial = 0
    var reloadCount = 0
    var lastReload: String?
    /// Listeners of the configuration that failed to start on a reload, with the error.
    var down: [(spec: ListenerSpec, reason: String)] = []
    /// What `/metrics` reports about reloads.
    public internal(set) var reloadFacts = ReloadFacts(lastTimestamp: wallClockSeconds())
    private var started = false
    private var stopping = false
    /// "adopted 3 sockets and 42 connections from the previous instance", for STATUS=; nil when
    /// nothing came from systemd's fd store.
    public private(set) var adoption: String?

    public init(configuration: Configuration, context: ListenerContext,
                makeListener: @escaping ListenerMaker = { $1.kinds.listener(for: $0, context: $1) }) {
        self.running = RunningConfiguration(configuration)
        self.context = context
        self.logger = context.logger
        self.makeListener = makeListener
        context.kinds.configure(configuration)
    }

    var gracePeriod: TimeAmount { .nanoseconds(Int64(running.shutdownTimeout * 1e9)) }

    /// Starts every listener. On the first failure, stops the ones already started and throws.
    public func start() async throws {
        for spec in running.listeners {
            let listener = makeListener(spec, context)
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
            throw UnclaimedSocketsError(sockets: extra, listenerNames: running.listeners.map(\.name))
        }
        await adoptFromStore()
        started = true
    }

    /// What the previous instance left in systemd's fd store: its connections go to their
    /// listeners (after every listener started); entries nobody took are removed and closed.
    private func adoptFromStore() async {
        var connections = 0
        for l in listeners {
            let stored = context.sockets.takeConnections(of: l.spec.name)
            if !stored.isEmpty { connections += await l.adoptConnections(stored) }
        }
        let names = Set(running.listeners.map(\.name))
        for s in context.sockets.takeStale() {
            let listener = s.storedEntry?.listenerName ?? s.name
            context.fdStore.discard(s, logger: logger,
                why: names.contains(listener) ? "listener \"\(listener)\" did not take it" : "listener \"\(listener)\" is no longer in the configuration")
        }
        let sockets = listeners.reduce(0) { $0 + $1.stats.value(.socketsAdopted) }
        guard sockets + connections > 0 else { return }
        let text = "\(sockets) listening socket\(sockets == 1 ? "" : "s") and \(connections) connection\(connections == 1 ? "" : "s") from the previous instance"
        adoption = "adopted " + text
        logger.info("Adopted \(text)", metadata: ["event": "adopted"])
    }

    // MARK: Shutdown

    /// Stops accepting everywhere, then lets connections finish for up to `shutdownTimeout`.
    public func shutdown() async {
        stopping = true
        await stopAll(gracePeriod: gracePeriod)
    }

    /// Shutdown with systemd's fd store: the listening sockets stay in the store (closing ours
    /// does not close them: connections wait in the backlog, datagrams in the receive queue) and
    /// every connection that fits is handed over instead of drained (`Listener.handOver`). systemd cannot be
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
                group.addTask { await l.handOver(gracePeriod: grace) }
            }
            for await n in group { stored += n }
        }
        for task in draining.values { await task.value }
        draining = [:]
        return stored
    }

    private func stopAll(gracePeriod: TimeAmount) async {
        let all = listeners
        listeners = []
        for l in all { await l.stopAccepting() }
        await withTaskGroup(of: Void.self) { group in
            for l in all { group.addTask { await l.drain(gracePeriod: gracePeriod) } }
        }
        for task in draining.values { await task.value }
        draining = [:]
    }

    public var openConnections: Int {
        listeners.reduce(0) { $0 + $1.stats.open }
    }

    // MARK: Observability

    /// Every configured listener, running or down, with its counters read now.
    public func listenerSnapshots() -> [ListenerSnapshot] {
        var all = listeners.map(snapshot)
        for d in down {
            let address = d.spec.boundEndpoint?.description ?? d.spec.label
            all.append(ListenerSnapshot(name: d.spec.name, kind: context.kinds.table.tag(of: d.spec), address: address, state: .down(d.reason)))
        }
        return all
    }

    private func snapshot(_ l: any Listener) -> ListenerSnapshot {
        var s = ListenerSnapshot(name: l.spec.name, kind: context.kinds.table.tag(of: l.spec), address: l.localDescription, state: .up,
                                 openConnections: l.stats.open, counters: Counter.allCases.map { l.stats.value($0) }, extras: l.extras)
        s.atFdLimit = l.stats.atFdLimit.load(ordering: .relaxed)
        return s
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
        let snapshots = listeners.map(snapshot)
        var tally = StatusTally()
        for (l, s) in zip(listeners, snapshots) { context.kinds.table.kind(of: l.spec)?.addStatus(s, to: &tally) }
        parts += tally.parts { FileDescriptorLimit.current().soft }
        parts += snapshots.flatMap(\.extras.statusParts)
        if let adoption { parts.append(adoption) }
        if let lastReload { parts.append(lastReload) }
        return parts.joined(separator: " | ")
    }

    /// The kinds' lines, then one log line per listener with its counters (SIGUSR1).
    public func logStatistics() {
        for line in context.kinds.statistics {
            logger.notice("\(line)", metadata: ["event": "statistics"])
        }
        for l in listeners {
            logger.notice("\(l.spec.label): \(snapshot(l).summary)", metadata: ["event": "statistics", "listener": .string(l.spec.name)])
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
