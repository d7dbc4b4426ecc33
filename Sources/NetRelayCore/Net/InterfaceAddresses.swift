#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetRelayConfig

/// One address of a local interface, as getifaddrs(3) reports it.
public struct InterfaceAddress: Sendable, Equatable {
    public var interface: String
    public var address: IPAddress
    public var prefixLength: Int?
    /// The kernel's broadcast address for this IPv4 address (interfaces with IFF_BROADCAST only).
    public var broadcast: IPAddress?
    public var isUp: Bool
    public var isLoopback: Bool
    public var isPointToPoint: Bool

    public init(interface: String, address: IPAddress, prefixLength: Int?, broadcast: IPAddress?,
                isUp: Bool = true, isLoopback: Bool = false, isPointToPoint: Bool = false) {
        self.interface = interface
        self.address = address
        self.prefixLength = prefixLength
        self.broadcast = broadcast
        self.isUp = isUp
        self.isLoopback = isLoopback
        self.isPointToPoint = isPointToPoint
    }

    /// The all-ones host address of this IPv4 subnet (127.255.255.255 for 127.0.0.1/8). Linux
    /// installs a broadcast route for it even where the interface has no IFF_BROADCAST (lo), so
    /// a send to it needs SO_BROADCAST.
    public var subnetBroadcast: IPAddress? {
        guard case .v4(let a) = address, let bits = prefixLength, bits < 31 else { return nil }
        let hostMask: UInt32 = bits == 0 ? ~0 : ~(~UInt32(0) << (32 - bits))
        return .v4(a | hostMask)
    }

    /// Whether `other` is in this address's subnet.
    public func sameSubnet(_ other: IPAddress) -> Bool {
        guard let bits = prefixLength, let block = CIDRBlock("\(address)/\(bits)") else { return false }
        return block.contains(other)
    }
}

/// The host's interface addresses, read with getifaddrs(3) (a netlink dump on Linux: cheap, but
/// not for a per-datagram path; callers read it at start and on reload).
public enum InterfaceAddresses {
    /// The name of every interface, up or down, with or without an address (if_nameindex(3)),
    /// bytes that are not UTF-8 written as `\xHH` (`TextEscaping.fromBytes`), for messages.
    public static func names() -> [String] {
        guard let list = if_nameindex() else { return [] }
        defer { if_freenameindex(list) }
        var out: [String] = []
        var i = 0
        while list[i].if_index != 0, let name = list[i].if_name {
            out.append(TextEscaping.fromBytes(UnsafeBufferPointer(start: name, count: strlen(name)).lazy.map { UInt8(bitPattern: $0) }))
            i += 1
        }
        return out
    }

    public static func current() -> [InterfaceAddress] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return [] }
        defer { freeifaddrs(head) }
        var out: [InterfaceAddress] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor?.pointee {
            defer { cursor = entry.ifa_next }
            guard let sa = entry.ifa_addr, let address = ipAddress(sa) else { continue }
            let flags = Int32(bitPattern: entry.ifa_flags)
            var broadcast: IPAddress?
            if flags & Int32(IFF_BROADCAST) != 0, let b = entry.ifa_ifu.ifu_broadaddr {
                broadcast = ipAddress(b)
            }
            out.append(InterfaceAddress(
                // Any bytes but '/', ':' and white space: not UTF-8 shows as \xHH (`TextEscaping`).
                interface: TextEscaping.fromBytes(UnsafeBufferPointer(start: entry.ifa_name, count: strlen(entry.ifa_name)).lazy.map { UInt8(bitPattern: $0) }),
                address: address,
                prefixLength: entry.ifa_netmask.flatMap(ipAddress).map(prefixLength),
                broadcast: broadcast,
                isUp: flags & Int32(IFF_UP) != 0,
                isLoopback: flags & Int32(IFF_LOOPBACK) != 0,
                isPointToPoint: flags & Int32(IFF_POINTOPOINT) != 0
            ))
        }
        return out
    }

    private static func ipAddress(_ sa: UnsafeMutablePointer<sockaddr>) -> IPAddress? {
        switch Int32(sa.pointee.sa_family) {
        case AF_INET:
            return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { .v4(UInt32(bigEndian: $0.pointee.sin_addr.s_addr)) }
        case AF_INET6:
            return sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { IPAddress(in6: $0.pointee.sin6_addr) }
        default:
            return nil
        }
    }

    private static func prefixLength(_ mask: IPAddress) -> Int {
        switch mask {
        case .v4(let m): return m.nonzeroBitCount
        case .v6(let hi, let lo): return hi.nonzeroBitCount + lo.nonzeroBitCount
        }
    }

    /// Every IPv4 broadcast address a send could hit on this host: the limited broadcast
    /// 255.255.255.255, each interface's broadcast address, and each subnet's all-ones address.
    public static func broadcastAddresses(_ interfaces: [InterfaceAddress]) -> Set<IPAddress> {
        var set: Set<IPAddress> = [.v4(0xFFFF_FFFF)]
        for i in interfaces {
            if let b = i.broadcast { set.insert(b) }
            if let b = i.subnetBroadcast { set.insert(b) }
        }
        return set
    }
}
