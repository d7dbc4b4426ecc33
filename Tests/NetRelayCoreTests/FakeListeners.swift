#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import NIOConcurrencyHelpers
import NIOCore
@testable import NetRelayConfig
@testable import NetRelayCore

/// A pretend network for fake listeners: which ports are bound (by a fake, or by "another
/// process"), and a journal of every call the supervisor made, in order. No sockets.
final class FakeNetwork: @unchecked Sendable {
    private let lock = NSLock()
    private var bound: Set<Int> = []
    private var taken: Set<Int> = []
    private var failingRevalidation: Set<String> = []
    private var connections: [String: Int] = [:]
    private var entries: [String] = []
    private var drainEntries: [String] = []

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    /// Calls, as "verb name:port"; drains (which run in the background) are in `drains`.
    var journal: [String] { locked { entries } }
    var drains: [String] { locked { drainEntries } }
    func clearJournal() { locked { entries = [] } }

    /// Someone else holds `port`: every bind to it fails with EADDRINUSE.
    func takeByAnotherProcess(_ port: Int) { _ = locked { taken.insert(port) } }
    func failRevalidation(of name: String) { _ = locked { failingRevalidation.insert(name) } }
    /// Listener `name` holds `n` connections (what its hand-over stores).
    func setOpenConnections(_ n: Int, of name: String) { locked { connections[name] = n } }
    func openConnections(of name: String) -> Int { locked { connections[name] ?? 0 } }

    func record(_ entry: String) { locked { entries.append(entry) } }
    func recordDrain(_ entry: String) { locked { drainEntries.append(entry) } }

    func bind(_ port: Int) -> Bool {
        locked {
            guard port == 0 || (!bound.contains(port) && !taken.contains(port)) else { return false }
            bound.insert(port)
            return true
        }
    }

    func release(_ port: Int) { _ = locked { bound.remove(port) } }
    func revalidationFails(_ name: String) -> Bool { locked { failingRevalidation.contains(name) } }

    /// The factory the supervisor is given: a fake for every spec, recorded as "make".
    var factory: ListenerMaker {
        { spec, _ in
            self.record("make \(FakeListener.tag(spec))")
            return FakeListener(spec: spec, network: self)
        }
    }
}

/// A listener that binds a port of `FakeNetwork` and records what the supervisor asks of it.
/// It can be updated in place when the kind and the endpoint stay (what the real ones check, reduced).
final class FakeListener: Listener, @unchecked Sendable {
    /// The spec, and whether the port is held.
    private let state: NIOLockedValueBox<(spec: ListenerSpec, bound: Bool)>
    let network: FakeNetwork
    let stats = ListenerStats()

    init(spec: ListenerSpec, network: FakeNetwork) {
        self.state = NIOLockedValueBox((spec, false))
        self.network = network
    }

    static func tag(_ spec: ListenerSpec) -> String { "\(spec.name):\(spec.boundEndpoint?.port ?? -1)" }
    static func seconds(_ t: TimeAmount) -> String { "\(Double(t.nanoseconds) / 1e9)s" }

    var spec: ListenerSpec { state.withLockedValue { $0.spec } }

    var localDescription: String { spec.boundEndpoint?.description ?? spec.label }
    private var port: Int { spec.boundEndpoint?.port ?? 0 }

    func start() async throws {
        guard network.bind(port) else {
            network.record("start-failed \(Self.tag(spec))")
            throw ListenerStartError(spec: spec, action: "bind", address: localDescription, reason: "address already in use", errno: EADDRINUSE)
        }
        setBound(true)
        network.record("start \(Self.tag(spec))")
    }

    func canUpdate(to newSpec: ListenerSpec) -> Bool {
        newSpec.kindName == spec.kindName && newSpec.boundEndpoint == spec.boundEndpoint
    }

    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async -> Bool {
        network.record("update \(Self.tag(newSpec)) grace \(Self.seconds(gracePeriod))")
        // A failing update keeps the old spec, as a real listener does.
        if network.revalidationFails(spec.name) { return false }
        state.withLockedValue { $0.spec = newSpec }
        return true
    }

    func stopAccepting() async {
        if setBound(false) { network.release(port) }
        network.record("stop \(Self.tag(spec))")
    }

    func drain(gracePeriod: TimeAmount) async {
        network.recordDrain("drain \(Self.tag(spec)) grace \(Self.seconds(gracePeriod))")
    }

    /// Stores as many connections as the network says it holds.
    func handOver(gracePeriod: TimeAmount) async -> Int {
        network.record("hand-over \(Self.tag(spec)) grace \(Self.seconds(gracePeriod))")
        return network.openConnections(of: spec.name)
    }

    var extras: ListenerExtras { .none }

    func adoptConnections(_ stored: [InheritedSocket]) async -> Int {
        network.record("adopt \(Self.tag(spec)) \(stored.map(\.name).joined(separator: ","))")
        return stored.count
    }

    func revalidate() async throws {
        network.record("revalidate \(Self.tag(spec))")
        if network.revalidationFails(spec.name) {
            throw ListenerStartError(spec: spec, action: "look up", address: localDescription, reason: "interface \"eth9\" is gone", errno: nil)
        }
    }

    /// Sets whether the port is held; returns whether it was.
    @discardableResult
    private func setBound(_ value: Bool) -> Bool {
        state.withLockedValue { s in
            defer { s.bound = value }
            return s.bound
        }
    }
}
