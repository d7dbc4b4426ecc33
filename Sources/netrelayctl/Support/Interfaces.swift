import ArgumentParser
import NIOCore
import enum NetRelayConfig.TextEscaping

/// `--interface NAME|ADDR` resolved to one of `System.enumerateDevices()`.
enum Interfaces {
    /// The device named `spec` ("lo") or owning the address `spec` ("127.0.0.1"), with an address
    /// of `family` (a group is joined through an address of its own family).
    static func device(_ spec: String, family: IPLiteral.Family) throws -> NIONetworkDevice {
        let devices: [NIONetworkDevice]
        do {
            devices = try System.enumerateDevices()
        } catch {
            throw ProbeFailure("cannot list the network interfaces: \(error)")
        }
        let familyName = family == .v4 ? "IPv4" : "IPv6"
        let names = Array(Set(devices.map { TextEscaping.escape($0.name, for: .line) })).sorted()

        if let specFamily = IPLiteral.family(spec) {
            let wanted = try? SocketAddress(ipAddress: spec, port: 0).ipAddress
            guard let device = devices.first(where: { $0.address?.ipAddress == wanted }) else {
                let known = devices.compactMap { d in d.address?.ipAddress.map { "\(TextEscaping.escape(d.name, for: .line)) \($0)" } }
                throw ValidationError("--interface \(spec): no interface has that address (here: \(known.joined(separator: ", "))).")
            }
            guard specFamily == family else {
                throw ValidationError("--interface \(spec) is not an \(familyName) address, but the group is \(familyName): give the interface's name (--interface \(TextEscaping.escape(device.name, for: .line))) or one of its \(familyName) addresses.")
            }
            return device
        }

        let named = devices.filter { $0.name == spec }
        guard !named.isEmpty else {
            throw ValidationError("--interface \(spec): no such interface (here: \(names.joined(separator: ", "))).")
        }
        guard let device = named.first(where: { matches($0.address, family) }) else {
            throw ValidationError("--interface \(spec) has no \(familyName) address, so it cannot join an \(familyName) group.")
        }
        return device
    }

    private static func matches(_ address: SocketAddress?, _ family: IPLiteral.Family) -> Bool {
        switch address {
        case .v4: return family == .v4
        case .v6: return family == .v6
        default: return false
        }
    }
}
