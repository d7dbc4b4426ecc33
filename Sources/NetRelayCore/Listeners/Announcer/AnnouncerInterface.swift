import NIOCore
import NetRelayConfig

/// The interface a multicast announcer sends through (and joins the group on), resolved from
/// the config's `"interface"` — a name such as "eth0", or one of the interface's addresses —
/// against the host's interface list (getifaddrs, through NIO's `System.enumerateDevices()`).
///
/// IPv4 names the interface by address (IP_MULTICAST_IF and IP_ADD_MEMBERSHIP take an
/// `in_addr`), IPv6 by index (IPV6_MULTICAST_IF and IPV6_JOIN_GROUP take an `ifindex`), so
/// each group family needs an address of its own family on the interface.
struct AnnouncerInterface: Sendable, Equatable {
    /// The getifaddrs entry for `address`, for NIO's `joinGroup(_:device:)`.
    let device: NIONetworkDevice
    /// The interface address of the group's family.
    let address: IPAddress

    var name: String { device.name }
    var index: Int { device.interfaceIndex }
    /// IFF_MULTICAST. Loopback lacks it, yet Linux delivers group traffic sent through `lo`
    /// to the sockets that joined the group on `lo`: the flag is about link-layer filtering.
    var multicastFlag: Bool { device.multicastSupported }

    static func == (a: AnnouncerInterface, b: AnnouncerInterface) -> Bool {
        a.name == b.name && a.index == b.index && a.address == b.address && a.multicastFlag == b.multicastFlag
    }

    /// "lo (127.0.0.1)", for log lines.
    var description: String { "\(name) (\(address))" }

    /// Why an `"interface"` setting did not resolve; the text completes "Failed to configure ...: ".
    enum ResolutionError: Error, Equatable, CustomStringConvertible {
        /// No interface has this name.
        case noSuchInterface(String, available: [String])
        /// No interface has this address.
        case noSuchAddress(IPAddress, available: [String])
        /// The interface exists but has no address of the group's family.
        case noAddressOfFamily(String, ipv4: Bool)

        var description: String {
            switch self {
            case .noSuchInterface(let name, let available):
                return "no network interface named \"\(name)\" on this host (it has \(available.joined(separator: ", "))); set \"interface\" to one of them or to one of their addresses"
            case .noSuchAddress(let address, let available):
                return "no network interface has the address \(address) (interfaces: \(available.joined(separator: ", "))); set \"interface\" to an interface name or one of its addresses"
            case .noAddressOfFamily(let name, let ipv4):
                return ipv4
                    ? "the interface \"\(name)\" has no IPv4 address, which an IPv4 group needs to send through it; give it one or pick another interface"
                    : "the interface \"\(name)\" has no IPv6 address (not even a link-local fe80:: one), which an IPv6 group needs to send through it; enable IPv6 on it or pick another interface"
            }
        }
    }

    /// Finds the interface `setting` names (or owns, if it is an address) with an address of
    /// the family of `group`. Pure: the caller passes the interface list.
    static func resolve(_ setting: String, for group: IPAddress, devices: [NIONetworkDevice]) -> Result<AnnouncerInterface, ResolutionError> {
        let wantIPv4 = group.isIPv4
        var names: [String] = []
        for d in devices where !names.contains(d.name) { names.append(d.name) }

        let name: String
        if let literal = IPAddress(setting) {
            guard let owner = devices.first(where: { $0.address.flatMap(IPAddress.init) == literal }) else {
                return .failure(.noSuchAddress(literal, available: names))
            }
            name = owner.name
            // The decoder already refused an address of the other family; an address given
            // explicitly is the one to use.
            if literal.isIPv4 == wantIPv4 {
                return .success(AnnouncerInterface(device: owner, address: literal))
            }
        } else {
            guard names.contains(setting) else {
                return .failure(.noSuchInterface(setting, available: names))
            }
            name = setting
        }
        let candidates = devices.filter { $0.name == name }
        // Prefer a global IPv6 address to a link-local one: either works for the index, but the
        // log line is clearer with the address the kernel will most likely pick as the source.
        let ofFamily = candidates.compactMap { d -> (NIONetworkDevice, IPAddress)? in
            guard let a = d.address.flatMap(IPAddress.init), a.isIPv4 == wantIPv4 else { return nil }
            return (d, a)
        }.sorted { !$0.1.isLinkLocal && $1.1.isLinkLocal }
        guard let (device, address) = ofFamily.first else {
            return .failure(.noAddressOfFamily(name, ipv4: wantIPv4))
        }
        return .success(AnnouncerInterface(device: device, address: address))
    }

    /// `resolve` against the host's interfaces now. A failure lists the names as the kernel has
    /// them (NIO's list replaces bytes that are not UTF-8; `InterfaceAddresses.names` shows them).
    static func resolveOnHost(_ setting: String, for group: IPAddress) -> Result<AnnouncerInterface, ResolutionError> {
        let devices = (try? System.enumerateDevices()) ?? []
        return resolve(setting, for: group, devices: devices).mapError { error in
            switch error {
            case .noSuchInterface(let name, _): return .noSuchInterface(name, available: InterfaceAddresses.names())
            case .noSuchAddress(let address, _): return .noSuchAddress(address, available: InterfaceAddresses.names())
            case .noAddressOfFamily: return error
            }
        }
    }

    /// The device to hand NIO's `joinGroup(_:device:)`. NIO refuses devices without
    /// IFF_MULTICAST; on Linux that flag does not govern local membership (joining on `lo`
    /// works and is how local receivers hear announcements sent through `lo`), so the flag is
    /// set on our copy for loopback only. Other interfaces without it are left to NIO's refusal.
    var deviceForJoin: NIONetworkDevice {
        var d = device
        if address.isLoopback { d.multicastSupported = true }
        return d
    }
}

extension IPAddress {
    /// 169.254.0.0/16 or fe80::/10.
    fileprivate var isLinkLocal: Bool {
        switch self {
        case .v4(let a): return a >> 16 == 0xA9FE
        case .v6(let hi, _): return hi >> 54 == 0x3FA
        }
    }
}
