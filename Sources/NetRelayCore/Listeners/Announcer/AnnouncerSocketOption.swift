#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NetRelayConfig

/// One multicast socket option of an announcer's socket, with its value.
///
/// Set through NIO's typed `SocketOptionProvider` calls, which hand the kernel each value in
/// its own C type — not through `ChannelOptions`, whose values are `Int`: 8 bytes on Linux,
/// and the kernel reads an 8-byte IP_MULTICAST_IF as a `struct ip_mreq` whose interface half
/// is 0.0.0.0 ("any"), so the address would be silently ignored and announcements would
/// follow the default route out of the machine.
enum AnnouncerSocketOption: Sendable, Equatable {
    case ipv4TTL(UInt8)
    case ipv4Loop(Bool)
    case ipv4Interface(IPAddress)
    case ipv6Hops(Int32)
    case ipv6Loop(Bool)
    case ipv6Interface(index: UInt32, name: String)

    /// TTL/hops and loop, then the outgoing interface when one is given.
    static func all(for m: AnnouncerSpec, interface: AnnouncerInterface?) -> [AnnouncerSocketOption] {
        if m.group.isIPv4 {
            var out: [AnnouncerSocketOption] = [.ipv4TTL(UInt8(clamping: m.ttl)), .ipv4Loop(m.loopback)]
            if let interface { out.append(.ipv4Interface(interface.address)) }
            return out
        }
        var out: [AnnouncerSocketOption] = [.ipv6Hops(Int32(clamping: m.ttl)), .ipv6Loop(m.loopback)]
        if let interface { out.append(.ipv6Interface(index: UInt32(clamping: interface.index), name: interface.name)) }
        return out
    }

    func apply(to channel: Channel) async throws {
        guard let provider = channel as? SocketOptionProvider else { throw ChannelError.operationUnsupported }
        switch self {
        case .ipv4TTL(let ttl):
            try await provider.setIPMulticastTTL(ttl).get()
        case .ipv4Loop(let on):
            try await provider.setIPMulticastLoop(on ? 1 : 0).get()
        case .ipv4Interface(let address):
            guard case .v4(let a) = address else { throw ChannelError.badInterfaceAddressFamily }
            try await provider.setIPMulticastIF(in_addr(s_addr: a.bigEndian)).get()
        case .ipv6Hops(let hops):
            try await provider.setIPv6MulticastHops(hops).get()
        case .ipv6Loop(let on):
            try await provider.setIPv6MulticastLoop(on ? 1 : 0).get()
        case .ipv6Interface(let index, _):
            try await provider.setIPv6MulticastIF(index).get()
        }
    }

    /// "IP_MULTICAST_TTL", for messages.
    var name: String {
        switch self {
        case .ipv4TTL: return "IP_MULTICAST_TTL"
        case .ipv4Loop: return "IP_MULTICAST_LOOP"
        case .ipv4Interface: return "IP_MULTICAST_IF"
        case .ipv6Hops: return "IPV6_MULTICAST_HOPS"
        case .ipv6Loop: return "IPV6_MULTICAST_LOOP"
        case .ipv6Interface: return "IPV6_MULTICAST_IF"
        }
    }

    var valueDescription: String {
        switch self {
        case .ipv4TTL(let v): return "\(v)"
        case .ipv6Hops(let v): return "\(v)"
        case .ipv4Loop(let on), .ipv6Loop(let on): return on ? "1" : "0"
        case .ipv4Interface(let a): return "\(a)"
        case .ipv6Interface(let index, let name): return "\(index) (\(name))"
        }
    }
}
