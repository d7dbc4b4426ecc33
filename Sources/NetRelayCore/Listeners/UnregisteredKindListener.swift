import NIOCore
import NetRelayConfig

/// Stands in for the listener of a spec whose kind is not in the daemon's table of kinds (a
/// spec built in code, never one the decoder read with the same table): it fails to start
/// with that reason instead of guessing a kind.
final class UnregisteredKindListener: Listener {
    let spec: ListenerSpec
    let stats = ListenerStats()
    private let kinds: [String]

    init(spec: ListenerSpec, kinds: [String]) {
        self.spec = spec
        self.kinds = kinds
    }

    var localDescription: String { spec.label }

    func start() async throws {
        let (action, address): (String, Endpoint) = switch spec.kindSpec.address {
        case .binds(let e, _, _): ("bind", e)
        case .sends(let to): ("start", to)
        }
        throw ListenerStartError(spec: spec, action: action, address: address.description,
                                 reason: "the kind \"\(spec.kindName)\" is not in this daemon's table of kinds (\(kinds.joined(separator: ", ")))", errno: nil)
    }

    func canUpdate(to newSpec: ListenerSpec) -> Bool { false }
    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async -> Bool { false }
    func revalidate() async throws {}
    func stopAccepting() async {}
    func drain(gracePeriod: TimeAmount) async {}
    // It never starts, so the supervisor never gets as far as its connections.
    func handOver(gracePeriod: TimeAmount) async -> Int { 0 }
    func adoptConnections(_ stored: [InheritedSocket]) async -> Int { 0 }
    var extras: ListenerExtras { .none }
}
