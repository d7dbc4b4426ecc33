#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import NetRelayConfig

/// Reload: the supervisor computes a `ReloadPlan` from what runs and what is wanted, and
/// executes its steps in order through its listener factory.
extension Supervisor {
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
        if let note = running.eventLoopThreadsNote(for: new) { report.notes.append(note) }
        let oldGrace = gracePeriod
        running.adoptDaemonKeys(of: new)
        context.kinds.configure(new)
        down = []

        let byName = Dictionary(listeners.map { ($0.spec.name, $0) }, uniquingKeysWith: { a, _ in a })
        let plan = ReloadPlan(running: listeners.map(\.spec), wanted: new.listeners) { from, to in
            byName[from.name]?.canUpdate(to: to) ?? false
        }
        var next: [any Listener] = []
        for step in plan.steps {
            if let listener = await execute(step, running: byName, oldGrace: oldGrace, &report) { next.append(listener) }
        }
        listeners = next
        // What runs now is the new configuration, except where a listener kept its old spec.
        running.listeners = next.map(\.spec)
        lastReload = report.statusText
        recordReload(ok: report.ok)
        return report
    }

    /// Runs one step; returns the listener that serves the step's name afterwards, if any.
    /// `running` holds every listener the plan was computed from, by name.
    private func execute(_ step: ReloadPlan.Step, running: [String: any Listener], oldGrace: TimeAmount,
                         _ report: inout ReloadReport) async -> (any Listener)? {
        func listener(_ spec: ListenerSpec) -> any Listener {
            guard let l = running[spec.name] else { preconditionFailure("the reload plan names \"\(spec.name)\", which does not run") }
            return l
        }
        switch step {
        case .remove(let spec):
            let old = listener(spec)
            context.fdStore.removeListener(old.spec.name)
            await old.stopAccepting()
            retire(old, gracePeriod: oldGrace)
            report.removed.append(old.spec.name)
            logger.info("Stopped \(old.spec.label): removed from the configuration", metadata: ["event": "removed", "listener": .string(old.spec.name)])
            return nil
        case .release(let spec):
            let old = listener(spec)
            context.fdStore.removeListener(old.spec.name)
            await old.stopAccepting()
            return nil
        case .keep(let spec):
            let l = listener(spec)
            await keep(l, &report)
            return l
        case .update(let from, let to):
            let l = listener(from)
            if await l.update(to: to, gracePeriod: gracePeriod) {
                report.changed.append(to.name)
            } else {
                // It logged why; the reload is not a success, and the listener runs as it was.
                report.failures.append("\(to.label) could not be updated in place; it keeps running as it was")
                report.unchanged.append(to.name)
            }
            return l
        case .restart(let from, let to):
            return await restart(listener(from), as: to, oldGrace: oldGrace, &report)
        case .add(let spec):
            return await add(spec, &report)
        }
    }

    /// An unchanged listener re-reads what its spec refers to; on failure it keeps what it had.
    private func keep(_ l: any Listener, _ report: inout ReloadReport) async {
        do {
            try await l.revalidate()
        } catch {
            report.failures.append("\(error)")
            logger.error("\(error); keeping its previous settings", metadata: ["event": "reload-error", "listener": .string(l.spec.name)])
        }
        report.unchanged.append(l.spec.name)
    }

    /// Starts `spec` in place of `old` (whose socket is already closed); if that fails, starts
    /// `old`'s spec again; if that fails too, the listener is down. `old` drains in the background.
    private func restart(_ old: any Listener, as spec: ListenerSpec, oldGrace: TimeAmount, _ report: inout ReloadReport) async -> (any Listener)? {
        defer { retire(old, gracePeriod: oldGrace) }
        if let fresh = await startDuringReload(spec, &report, ifItFails: "keeping its previous settings") {
            report.changed.append(spec.name)
            return fresh
        }
        if let revived = await startDuringReload(old.spec, &report, ifItFails: "the listener is down until the next reload") {
            return revived
        }
        down.append((spec, report.failures.last ?? "failed to start"))
        return nil
    }

    private func add(_ spec: ListenerSpec, _ report: inout ReloadReport) async -> (any Listener)? {
        guard let fresh = await startDuringReload(spec, &report, ifItFails: "not started") else {
            down.append((spec, report.failures.last ?? "failed to start"))
            return nil
        }
        report.added.append(spec.name)
        return fresh
    }

    /// Starts a listener for a reload; a failure is logged (with what it means) and reported.
    private func startDuringReload(_ spec: ListenerSpec, _ report: inout ReloadReport, ifItFails consequence: String) async -> (any Listener)? {
        var attempts = 0
        while true {
            let listener = makeListener(spec, context)
            do {
                try await listener.start()
                return listener
            } catch let error as ListenerStartError where error.errno == EADDRINUSE && context.fdStore.enabled && attempts < 20 {
                // A restarted listener's old socket was just removed from the fd store, and
                // systemd closes its copy a moment after our FDSTOREREMOVE=1: wait for the port.
                // On an event loop's timer, not Task.sleep: a SIGTERM during the reload cancels
                // this task, and a cancelled Task.sleep returns at once (20 tries in microseconds).
                attempts += 1
                try? await context.group.next().scheduleTask(in: .milliseconds(50)) {}.futureResult.get()
                continue
            } catch {
                report.failures.append("\(error)")
                logger.error("\(error); \(consequence)", metadata: ["event": "reload-error", "listener": .string(spec.name)])
                return nil
            }
        }
    }

    /// Lets a stopped listener's connections finish in the background.
    func retire(_ listener: any Listener, gracePeriod: TimeAmount) {
        drainSerial += 1
        let serial = drainSerial
        draining[serial] = Task {
            await listener.drain(gracePeriod: gracePeriod)
            await self.drained(serial)
        }
    }

    func drained(_ serial: Int) {
        draining[serial] = nil
    }

    /// Retired listeners still draining (tests).
    var drainingCount: Int { draining.count }

    func recordReload(ok: Bool) {
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
}
