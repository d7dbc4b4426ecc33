import NIOCore
import NetRelayConfig

extension IPAddress {
    /// The address of a NIO `SocketAddress` (nil for unix domain sockets).
    public init?(_ address: SocketAddress) {
        switch address {
        case .v4(let a): self = .v4(UInt32(bigEndian: a.address.sin_addr.s_addr))
        case .v6(let a): self = IPAddress(in6: a.address.sin6_addr)
        default: return nil
        }
    }
}

extension Endpoint {
    public func socketAddress() throws -> SocketAddress {
        try SocketAddress(ipAddress: address.description, port: port)
    }

    public init?(_ address: SocketAddress) {
        guard let ip = IPAddress(address), let port = address.port else { return nil }
        self.init(address: ip, port: port)
    }
}
