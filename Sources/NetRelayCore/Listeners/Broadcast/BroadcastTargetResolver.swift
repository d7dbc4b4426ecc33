import NIOCore
import NetRelayConfig

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
        case .limitedBroadcast(let name, let port):
            // The interface must exist and have an IPv4 address (the datagram's source); it needs
            // no broadcast address of its own (point-to-point links carry a limited broadcast too).
            let mine = interfaces.filter { $0.interface == name }
            if mine.isEmpty { return resolve(.interface(name: name, port: port), listen: listen, interfaces: interfaces) }
            if !mine.contains(where: { $0.address.isIPv4 }) {
                return .failure(Failure(reason: "interface \(JSONString.quote(name)) has no IPv4 address to send a broadcast from"))
            }
            return .success(Endpoint(address: .v4(UInt32.max), port: port))
        case .interface(let name, let port):
            let mine = interfaces.filter { $0.interface == name }
            if mine.isEmpty {
                var names: [String] = []
                for i in interfaces where !names.contains(i.interface) { names.append(i.interface) }
                let known = names.isEmpty ? "" : " (this host has: \(names.joined(separator: ", ")))"
                return .failure(Failure(reason: "no interface named \(JSONString.quote(name))\(known)"))
            }
            let v4 = mine.filter { $0.address.isIPv4 }
            if v4.isEmpty {
                return .failure(Failure(reason: "interface \(JSONString.quote(name)) has no IPv4 address, so no broadcast address"))
            }
            let candidates = v4.filter { $0.broadcast != nil }
            guard let first = candidates.first else {
                if v4.contains(where: \.isLoopback) {
                    return .failure(Failure(reason: "interface \(JSONString.quote(name)) is a loopback interface without a broadcast address; to broadcast on loopback use \"target\": \"127.255.255.255:\(port)\""))
                }
                if v4.contains(where: \.isPointToPoint) {
                    return .failure(Failure(reason: "interface \(JSONString.quote(name)) is point-to-point and has no broadcast address"))
                }
                return .failure(Failure(reason: "interface \(JSONString.quote(name)) has no IPv4 broadcast address"))
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

/// One target as the handler sends to it: resolved at start and on reload, never per datagram.
struct RelayTarget: Sendable, Equatable {
    /// "10.0.2.255:2002", or "eth1:2002" for an interface target: in summaries and metric labels.
    var label: String
    var endpoint: Endpoint
    var address: SocketAddress
    /// The interface this target goes out of (0: unknown, e.g. 255.255.255.255 to wherever the
    /// routing table sends it); the "not back out of the ingress interface" rule compares it.
    var interfaceIndex: Int
    /// Send with IP_PKTINFO ipi_ifindex = interfaceIndex (interface targets): out of that
    /// interface even where the routing table would pick another.
    var pinned: Bool

    var sendInterfaceIndex: Int { pinned ? interfaceIndex : 0 }
}

/// Every target of a rebroadcaster, resolved: those served now, and those skipped with why.
struct RelayTargetResolution: Sendable, Equatable {
    struct Row: Sendable, Equatable {
        var label: String
        var target: RelayTarget?
        var skipped: String?
    }

    var rows: [Row]
    var served: [RelayTarget] { rows.compactMap(\.target) }
    var skipped: [(label: String, reason: String)] { rows.compactMap { r in r.skipped.map { (r.label, $0) } } }
}

extension BroadcastTargetResolver {
    static func label(_ target: BroadcastSpec.Target) -> String {
        switch target {
        case .address(let e): return e.description
        case .interface(let name, let port): return "\(name):\(port)"
        case .limitedBroadcast(let name, let port): return "limited@\(name):\(port)"
        }
    }

    /// Resolves every target. An interface that is missing, down or without an IPv4 broadcast
    /// address is skipped with its reason; `indexOf` gives an interface's index by name
    /// (if_nametoindex; 0: none), so that this stays pure for tests.
    /// `skipDown`: skip an interface that is down (several targets; one target keeps the
    /// behaviour it always had: its address is used whatever the link state).
    static func resolveAll(_ targets: [BroadcastSpec.Target], listen: Endpoint, interfaces: [InterfaceAddress],
                           skipDown: Bool = true, indexOf: (String) -> Int) -> RelayTargetResolution {
        var rows: [RelayTargetResolution.Row] = []
        for t in targets {
            let label = label(t)
            switch resolve(t, listen: listen, interfaces: interfaces) {
            case .failure(let f):
                rows.append(.init(label: label, target: nil, skipped: f.reason))
            case .success(let e):
                guard let address = try? e.socketAddress() else {
                    rows.append(.init(label: label, target: nil, skipped: "\(e) is not a usable address"))
                    continue
                }
                switch t {
                case .interface(let name, _), .limitedBroadcast(let name, _):
                    if skipDown, !interfaces.contains(where: { $0.interface == name && $0.isUp }) {
                        rows.append(.init(label: label, target: nil, skipped: "interface \(JSONString.quote(name)) is down"))
                        continue
                    }
                    let index = indexOf(name)
                    rows.append(.init(label: label, target: RelayTarget(label: label, endpoint: e, address: address, interfaceIndex: index, pinned: index != 0), skipped: nil))
                case .address:
                    let owner = owningInterface(of: e.address, interfaces)
                    rows.append(.init(label: label, target: RelayTarget(label: label, endpoint: e, address: address,
                                                                        interfaceIndex: owner.map(indexOf) ?? 0, pinned: false), skipped: nil))
                }
            }
        }
        return RelayTargetResolution(rows: rows)
    }

    /// The interface whose subnet a broadcast address belongs to (its broadcast address, or in
    /// its subnet); nil for the limited broadcast 255.255.255.255, which belongs to none.
    static func owningInterface(of address: IPAddress, _ interfaces: [InterfaceAddress]) -> String? {
        guard address.isIPv4, !address.isLimitedBroadcast else { return nil }
        let v4 = interfaces.filter { $0.address.isIPv4 }
        if let i = v4.first(where: { $0.broadcast == address || $0.subnetBroadcast == address }) { return i.interface }
        return v4.first { $0.sameSubnet(address) }?.interface
    }

    /// Every address a datagram that arrived as a broadcast can be addressed to: the limited
    /// broadcast and each local subnet's broadcast address.
    static func broadcastDestinations(_ interfaces: [InterfaceAddress]) -> Set<IPAddress> {
        InterfaceAddresses.broadcastAddresses(interfaces.filter { $0.address.isIPv4 })
    }
}

/// Where a datagram may not go: back out of the interface it came in on, to the port it came
/// to, when it came as a broadcast (every host there has heard it already). A datagram sent to one of our own
/// addresses was heard by nobody else, so it is rebroadcast into its own subnet too (the
/// classic single-target rebroadcaster). Pure: the handler asks it per target and datagram.
enum IngressRule {
    /// `ingress`: the interface index the datagram came in on (nil: not known);
    /// `targetInterface`: the target's interface index (0: not known).
    /// A target on another port is not skipped: the hosts listening there did not hear the
    /// original (a rebroadcaster that moves a broadcast from port 2001 to 2002 on one subnet).
    @inline(__always)
    static func mustSkip(targetInterface: Int, targetPort: Int, ingress: Int?, arrivedAsBroadcast: Bool, arrivalPort: Int?) -> Bool {
        guard arrivedAsBroadcast, let ingress, ingress != 0, targetInterface != 0 else { return false }
        return targetInterface == ingress && targetPort == arrivalPort
    }
}
