#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address literal (no host names: a daemon's bind address must not depend on DNS).
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// Host byte order.
    case v4(UInt32)
    case v6(UInt64, UInt64)

    /// Parses "192.0.2.1" or "2001:db8::1" (no brackets, no scope id).
    public init?(_ text: String) {
        if text.contains(":") {
            var a6 = in6_addr()
            guard inet_pton(AF_INET6, text, &a6) == 1 else { return nil }
            self = IPAddress(in6: a6)
        } else {
            var a4 = in_addr()
            // inet_pton accepts only the dotted quad (no "1.2.3", no octal), which is what we want.
            guard inet_pton(AF_INET, text, &a4) == 1 else { return nil }
            self = .v4(UInt32(bigEndian: a4.s_addr))
        }
    }

    package init(in6 a6: in6_addr) {
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        withUnsafeBytes(of: a6) { raw in
            for i in 0..<8 { hi = hi << 8 | UInt64(raw[i]) }
            for i in 8..<16 { lo = lo << 8 | UInt64(raw[i]) }
        }
        self = .v6(hi, lo)
    }

    public var isIPv4: Bool { if case .v4 = self { return true } else { return false } }

    /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its IPv4 address, so that CIDR rules
    /// written for IPv4 apply to IPv4 peers of a dual-stack socket.
    public var unmapped: IPAddress {
        if case .v6(let hi, let lo) = self, hi == 0, lo >> 32 == 0xFFFF {
            return .v4(UInt32(truncatingIfNeeded: lo))
        }
        return self
    }

    public var isUnspecified: Bool {
        switch self {
        case .v4(let a): return a == 0
        case .v6(let hi, let lo): return hi == 0 && lo == 0
        }
    }

    public var isLoopback: Bool {
        switch unmapped {
        case .v4(let a): return a >> 24 == 127
        case .v6(let hi, let lo): return hi == 0 && lo == 1
        }
    }

    public var isMulticast: Bool {
        switch unmapped {
        case .v4(let a): return a >> 28 == 0xE
        case .v6(let hi, _): return hi >> 56 == 0xFF
        }
    }

    /// 255.255.255.255, or the all-ones host part is not knowable without the netmask;
    /// `BroadcastAddresses` covers subnet broadcasts from the interface list.
    public var isLimitedBroadcast: Bool {
        if case .v4(let a) = unmapped { return a == 0xFFFF_FFFF }
        return false
    }

    public var description: String {
        switch self {
        case .v4(let a):
            return "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)"
        case .v6:
            var a6 = in6Addr
            var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &a6, &buf, socklen_t(buf.count)) != nil else { return "?" }
            return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
    }

    var in6Addr: in6_addr {
        var a6 = in6_addr()
        if case .v6(let hi, let lo) = self {
            withUnsafeMutableBytes(of: &a6) { raw in
                for i in 0..<8 { raw[i] = UInt8(truncatingIfNeeded: hi >> (56 - 8 * UInt64(i))) }
                for i in 0..<8 { raw[8 + i] = UInt8(truncatingIfNeeded: lo >> (56 - 8 * UInt64(i))) }
            }
        }
        return a6
    }
}

/// An IP address and port, written "192.0.2.1:2000" or "[2001:db8::1]:2000".
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: Int

    public init(address: IPAddress, port: Int) {
        self.address = address
        self.port = port
    }

    public enum ParseError: Error, Equatable {
        case missingPort
        case badPort(String)
        case badAddress(String)
        case hostName(String)
    }

    /// Parses "ADDR:PORT" where ADDR is an IPv4 literal or a bracketed IPv6 literal.
    public static func parse(_ text: String) -> Result<Endpoint, ParseError> {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.utf8.firstIndex(of: UInt8(ascii: "]")) else { return .failure(.badAddress(text)) }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.utf8.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(.missingPort) }
            portPart = rest.dropFirst()
        } else {
            // Searching the UTF-8 view: a Character search costs grapheme breaking on every address.
            guard let colon = text.utf8.lastIndex(of: UInt8(ascii: ":")) else { return .failure(.missingPort) }
            hostPart = text[..<colon]
            portPart = text[text.utf8.index(after: colon)...]
            if hostPart.utf8.contains(UInt8(ascii: ":")) { return .failure(.badAddress(text)) }  // IPv6 without brackets
        }
        // Leading zeros ("00080") are refused: other tools read them as octal or refuse them.
        guard let port = Int(portPart), (0...65535).contains(port), portPart.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              portPart.utf8.count == 1 || !portPart.hasPrefix("0") else {
            return .failure(.badPort(String(portPart)))
        }
        guard let address = IPAddress(String(hostPart)) else {
            if !text.hasPrefix("["), hostPart.contains(where: \.isLetter) {
                return .failure(.hostName(String(hostPart)))
            }
            return .failure(.badAddress(String(hostPart)))
        }
        return .success(Endpoint(address: address, port: port))
    }

    public var description: String {
        address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
}

/// An address block such as "10.0.0.0/8" or "2001:db8::/32"; a bare address is a /32 or /128.
public struct CIDRBlock: Hashable, Sendable, CustomStringConvertible {
    public var network: IPAddress
    public var prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let maxBits = address.isIPv4 ? 32 : 128
        var bits = maxBits
        if parts.count == 2 {
            guard let b = Int(parts[1]), (0...maxBits).contains(b), parts[1].allSatisfy(\.isASCII) else { return nil }
            bits = b
        }
        self.network = CIDRBlock.mask(address, bits)
        self.prefixLength = bits
    }

    private static func mask(_ a: IPAddress, _ bits: Int) -> IPAddress {
        switch a {
        case .v4(let v):
            let m: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            return .v4(v & m)
        case .v6(let hi, let lo):
            let mh: UInt64 = bits == 0 ? 0 : bits >= 64 ? ~0 : ~UInt64(0) << (64 - bits)
            let ml: UInt64 = bits <= 64 ? 0 : bits == 128 ? ~0 : ~UInt64(0) << (128 - bits)
            return .v6(hi & mh, lo & ml)
        }
    }

    public func contains(_ address: IPAddress) -> Bool {
        let a = address.unmapped
        guard a.isIPv4 == network.isIPv4 else { return false }
        return CIDRBlock.mask(a, prefixLength) == network
    }

    public var description: String { "\(network)/\(prefixLength)" }
}

extension Array where Element == CIDRBlock {
    /// True when any block contains the address.
    public func matches(_ address: IPAddress) -> Bool {
        contains { $0.contains(address) }
    }
}
