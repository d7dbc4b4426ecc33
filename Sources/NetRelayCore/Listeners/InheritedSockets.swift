import NIOCore

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
}

/// The FDNAME= under which netrelayd keeps a socket in systemd's file descriptor store. A socket
/// unit's FileDescriptorName= is a listener name, which cannot contain '/' (see the config's name
/// rule), so these never collide with socket activation; ':' is not allowed in fd names at all.
public enum StoredSocketName: Sendable, Equatable, CustomStringConvertible {
    /// `listen/NAME`: the listening (stream) or bound (datagram) socket of listener NAME.
    case listener(String)
    /// `listen/NAME/K` (K ≥ 1): with `eventLoopThreads` N > 1, the Kth of the N-1 SO_REUSEPORT
    /// sockets beside `listen/NAME`, one per further event loop.
    case sibling(String, Int)
    /// `conn/NAME/N`: the Nth established tcp-echo connection of listener NAME.
    case connection(String, Int)

    public init?(parsing name: String) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.first {
        case "listen" where parts.count == 2 && !parts[1].isEmpty:
            self = .listener(String(parts[1]))
        case "listen" where parts.count == 3 && !parts[1].isEmpty:
            guard let k = Int(parts[2]), k >= 1 else { return nil }
            self = .sibling(String(parts[1]), k)
        case "conn" where parts.count == 3 && !parts[1].isEmpty:
            guard let n = Int(parts[2]), n >= 0 else { return nil }
            self = .connection(String(parts[1]), n)
        default:
            return nil
        }
    }

    public var listenerName: String {
        switch self {
        case .listener(let n), .sibling(let n, _), .connection(let n, _): return n
        }
    }

    /// The FDNAME= value (at most 255 characters, systemd's limit; names are shorter).
    public var description: String {
        switch self {
        case .listener(let n): return "listen/\(n)"
        case .sibling(let n, let k): return "listen/\(n)/\(k)"
        case .connection(let n, let i): return "conn/\(n)/\(i)"
        }
    }
}

/// Where listeners look for sockets handed over by systemd, by listener name.
public protocol InheritedSocketSource: Sendable {
    /// Removes and returns the socket named after a listener, if there is one: the socket unit's
    /// (FileDescriptorName=NAME) first, else the one the previous instance stored (`listen/NAME`).
    func take(named name: String) -> InheritedSocket?
    /// Removes and returns the Kth sibling socket of listener `name` the previous instance
    /// stored (`listen/NAME/K`), if there is one.
    func takeSibling(of name: String, index: Int) -> InheritedSocket?
    /// Removes and returns the stored siblings of listener `name` from the Kth on (the previous
    /// instance had more event loops), in index order.
    func takeSiblings(of name: String, from index: Int) -> [InheritedSocket]
    /// Socket-activated sockets no listener has taken (fd-store entries are not among them).
    func unclaimed() -> [InheritedSocket]
    /// Removes and returns the stored connections of listener `name` (`conn/NAME/N`), in order.
    func takeConnections(of name: String) -> [InheritedSocket]
    /// Removes and returns every fd-store entry nobody took (a listener gone from the config).
    func takeStale() -> [InheritedSocket]
}

extension InheritedSocketSource {
    public func takeSibling(of name: String, index: Int) -> InheritedSocket? { nil }
    public func takeSiblings(of name: String, from index: Int) -> [InheritedSocket] { [] }
    public func takeConnections(of name: String) -> [InheritedSocket] { [] }
    public func takeStale() -> [InheritedSocket] { [] }
}

public struct NoInheritedSockets: InheritedSocketSource {
    public init() {}
    public func take(named name: String) -> InheritedSocket? { nil }
    public func unclaimed() -> [InheritedSocket] { [] }
}

/// The matching rules of `InheritedSocketSource`, on a plain list (no systemd, no locking):
/// socket units' sockets by exact name, fd-store entries by their `StoredSocketName`.
public struct InheritedSocketPool: Sendable {
    public private(set) var sockets: [InheritedSocket]

    public init(_ sockets: [InheritedSocket]) { self.sockets = sockets }

    public mutating func take(named name: String) -> InheritedSocket? {
        if let i = sockets.firstIndex(where: { $0.storedEntry == nil && $0.name == name }) {
            return sockets.remove(at: i)
        }
        if let i = sockets.firstIndex(where: { $0.storedEntry == .listener(name) }) {
            return sockets.remove(at: i)
        }
        return nil
    }

    public mutating func takeSibling(of name: String, index: Int) -> InheritedSocket? {
        guard let i = sockets.firstIndex(where: { $0.storedEntry == .sibling(name, index) }) else { return nil }
        return sockets.remove(at: i)
    }

    public mutating func takeSiblings(of name: String, from index: Int) -> [InheritedSocket] {
        func sibling(_ s: InheritedSocket) -> Int? {
            if case .sibling(let n, let k) = s.storedEntry, n == name, k >= index { return k }
            return nil
        }
        let found = sockets.filter { sibling($0) != nil }.sorted { sibling($0)! < sibling($1)! }
        sockets.removeAll { sibling($0) != nil }
        return found
    }

    public var unclaimed: [InheritedSocket] { sockets.filter { $0.storedEntry == nil } }

    public mutating func takeConnections(of name: String) -> [InheritedSocket] {
        func index(_ s: InheritedSocket) -> Int? {
            if case .connection(let n, let i) = s.storedEntry, n == name { return i }
            return nil
        }
        let mine = sockets.filter { index($0) != nil }.sorted { index($0)! < index($1)! }
        sockets.removeAll { index($0) != nil }
        return mine
    }

    public mutating func takeStale() -> [InheritedSocket] {
        let stale = sockets.filter { $0.storedEntry != nil }
        sockets.removeAll { $0.storedEntry != nil }
        return stale
    }
}

extension InheritedSocket {
    /// Throws when this socket cannot serve `spec`: another socket type (the .socket unit needs
    /// `directive`) or bound elsewhere than the configuration's `listen`.
    func check(serves spec: ListenerSpec, as needed: SocketType, directive: String, listen: Endpoint) throws {
        guard type == needed else {
            throw ListenerStartError(spec: spec, action: "adopt", address: "fd \(fd)",
                reason: "the socket named \"\(name)\" is a \(type) socket, but \(spec.kindName) needs a \(needed) socket; use \(directive) in the .socket unit", errno: nil)
        }
        if let local = localAddress, listen.port != 0, local != listen {
            throw ListenerStartError(spec: spec, action: "adopt", address: "fd \(fd)",
                reason: "the socket named \"\(name)\" is bound to \(local), but the configuration says \"listen\": \"\(listen)\"; make the .socket unit and the config agree", errno: nil)
        }
    }
}
