import NIOCore
import NetRelayConfig

/// A socket passed in by the service manager (socket activation or the fd store), already bound
/// (or, for a stored connection, connected).
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

        /// The .socket unit directive that makes one.
        var directive: String {
            switch self {
            case .stream: return "ListenStream="
            case .datagram: return "ListenDatagram="
            case .other: return "the matching Listen...= directive"
            }
        }
    }

    public var fd: CInt
    /// The FileDescriptorName= (socket unit) or FDNAME= (fd store) it came with.
    public var name: String
    public var type: SocketType
    public var localAddress: Endpoint?

    public init(fd: CInt, name: String, type: SocketType, localAddress: Endpoint?) {
        self.fd = fd
        self.name = name
        self.type = type
        self.localAddress = localAddress
    }

    /// What the name says it is: a socket unit's socket, or one the previous instance stored.
    public var storedEntry: StoredSocketName? { StoredSocketName(parsing: name) }

    /// "fd 3 (echo)" or "fd 5 (listen/echo, from the previous instance)", for log lines.
    public var logDescription: String {
        storedEntry == nil ? "socket-activated fd \(fd) (\(name))" : "fd \(fd) (\(name)) from the previous instance"
    }

    /// Throws when this socket cannot serve `spec`: another socket type (the .socket unit needs
    /// another directive) or bound elsewhere than the configuration's `listen`.
    func check(serves spec: ListenerSpec, as needed: SocketType, listen: Endpoint) throws {
        guard type == needed else {
            throw ListenerStartError(spec: spec, action: "adopt", address: "fd \(fd)",
                reason: "the socket named \"\(name)\" is a \(type) socket, but \(spec.kindName) needs a \(needed) socket; use \(needed.directive) in the .socket unit", errno: nil)
        }
        if let local = localAddress, listen.port != 0, local != listen {
            throw ListenerStartError(spec: spec, action: "adopt", address: "fd \(fd)",
                reason: "the socket named \"\(name)\" is bound to \(local), but the configuration says \"listen\": \"\(listen)\"; make the .socket unit and the config agree", errno: nil)
        }
    }
}
