/// Turns a rebroadcaster's target into an address: as written (`"target": "192.168.56.255:2002"`),
/// or the broadcast address of an interface (`"targetInterface": "eth0"`) from the host's
/// interface list. Pure, so that it is tested with made-up interface lists.
enum BroadcastTargetResolver {
    /// Why a target cannot be resolved, in words for "Failed to point ... : REASON".
    struct Failure: Error, Equatable, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// An interface with several IPv4 subnets has several broadcast addresses; the one whose
    /// subnet holds the listen address wins (the classic setup: listen on 192.168.56.1, send to
    /// 192.168.56.255), else the first the kernel lists (the primary address's).
    static func resolve(_ target: BroadcastSpec.Target, listen: Endpoint, interfaces: [InterfaceAddress]) -> Result<Endpoint, Failure> {
        switch target {
        case .address(let e):
            return .success(e)
        case .interface(let name, let port):
            let mine = interfaces.filter { $0.interface == name }
            if mine.isEmpty {
                var names: [String] = []
                for i in interfaces where !names.contains(i.interface) { names.append(i.interface) }
                let known = names.isEmpty ? "" : " (this host has: \(names.joined(separator: ", ")))"
                return .failure(Failure(reason: "no interface named \(JSONNode.quote(name))\(known)"))
            }
            let v4 = mine.filter { $0.address.isIPv4 }
            if v4.isEmpty {
                return .failure(Failure(reason: "interface \(JSONNode.quote(name)) has no IPv4 address, so no broadcast address"))
            }
            let candidates = v4.filter { $0.broadcast != nil }
            guard let first = candidates.first else {
                if v4.contains(where: \.isLoopback) {
                    return .failure(Failure(reason: "interface \(JSONNode.quote(name)) is a loopback interface without a broadcast address; to broadcast on loopback use \"target\": \"127.255.255.255:\(port)\""))
                }
                if v4.contains(where: \.isPointToPoint) {
                    return .failure(Failure(reason: "interface \(JSONNode.quote(name)) is point-to-point and has no broadcast address"))
                }
                return .failure(Failure(reason: "interface \(JSONNode.quote(name)) has no IPv4 broadcast address"))
            }
            let chosen = candidates.first { $0.sameSubnet(listen.address) } ?? first
            return .success(Endpoint(address: chosen.broadcast!, port: port))
        }
    }

    /// This host's IPv4 addresses plus the listen address: where our own rebroadcasts come from.
    static func ownAddresses(_ interfaces: [InterfaceAddress], listen: Endpoint) -> Set<IPAddress> {
        var set = Set(interfaces.map(\.address).filter(\.isIPv4))
        if !listen.address.isUnspecified { set.insert(listen.address) }
        return set
    }
}
