import NIOCore

// TEMPORARY: replaced by the real listener (issue 4/5 work) before anything lands.
final class BroadcastListener: Listener {
    let spec: ListenerSpec
    let stats = ListenerStats()
    init(spec: ListenerSpec, context: ListenerContext) { self.spec = spec }
    var localDescription: String { "" }
    func start() async throws {
        throw ListenerStartError(spec: spec, action: "start", address: "-", reason: "not implemented yet", errno: nil)
    }
    func canUpdate(to newSpec: ListenerSpec) -> Bool { false }
    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async {}
    func stopAccepting() async {}
    func drain(gracePeriod: TimeAmount) async {}
}
