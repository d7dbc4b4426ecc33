import NIOCore

/// A socket passed in by the service manager (socket activation), already bound.
public struct InheritedSocket: Sendable {
    public enum SocketType: Sendable, Equatable, CustomStringConvertible {
        case stream, datagram, other(Int32)
        public var description: String {
            switch self {
            case .stream: return "stream (TCP)"
            case .datagram: return "datagram (UDP)"
            case .other(let t): return "socket type \(t)"
            }
        }
    }

    public var fd: CInt
    /// The FileDescriptorName= it came with.
    public var name: String
    public var type: SocketType
    public var localAddress: Endpoint?

    public init(fd: CInt, name: String, type: SocketType, localAddress: Endpoint?) {
        self.fd = fd
        self.name = name
        self.type = type
        self.localAddress = localAddress
    }
}

/// Where listeners look for sockets handed over by systemd, by listener name.
public protocol InheritedSocketSource: Sendable {
    /// Removes and returns the socket named after a listener, if there is one.
    func take(named name: String) -> InheritedSocket?
    /// Sockets no listener has taken.
    func unclaimed() -> [InheritedSocket]
}

public struct NoInheritedSockets: InheritedSocketSource {
    public init() {}
    public func take(named name: String) -> InheritedSocket? { nil }
    public func unclaimed() -> [InheritedSocket] { [] }
}
