import NIOConcurrencyHelpers
import NetRelayConfig

/// The sockets handed over by the service manager (socket activation's and the fd store's),
/// from which listeners take theirs by name. Each is taken at most once.
public final class InheritedSockets: Sendable {
    private let pool: NIOLockedValueBox<InheritedSocketPool>

    public init(_ sockets: [InheritedSocket] = []) {
        pool = NIOLockedValueBox(InheritedSocketPool(sockets))
    }

    /// Removes and returns the socket for `slot`, if there is one: for a listener's own slot the
    /// socket unit's (FileDescriptorName=NAME) first, else the stored one.
    public func take(_ slot: StoredSocketName) -> InheritedSocket? { pool.withLockedValue { $0.take(slot) } }
    /// Removes and returns the further stored sockets of listener `name` (`listen/NAME/KEY`)
    /// whose key is `wanted`, in key order (numbers by value).
    public func takeSockets(of name: String, where wanted: (String) -> Bool) -> [InheritedSocket] {
        pool.withLockedValue { $0.takeSockets(of: name, where: wanted) }
    }
    /// Socket-activated sockets no listener has taken (fd-store entries are not among them).
    public func unclaimed() -> [InheritedSocket] { pool.withLockedValue { $0.unclaimed } }
    /// Removes and returns the stored connections of listener `name` (`conn/NAME/N`), in order.
    public func takeConnections(of name: String) -> [InheritedSocket] { pool.withLockedValue { $0.takeConnections(of: name) } }
    /// Removes and returns every fd-store entry nobody took (a listener gone from the config).
    public func takeStale() -> [InheritedSocket] { pool.withLockedValue { $0.takeStale() } }
}

/// The matching rules of `InheritedSockets`, on a plain list (no systemd, no locking):
/// socket units' sockets by exact name, fd-store entries by their `StoredSocketName`.
public struct InheritedSocketPool: Sendable {
    public private(set) var sockets: [InheritedSocket]

    public init(_ sockets: [InheritedSocket]) { self.sockets = sockets }

    public mutating func take(_ slot: StoredSocketName) -> InheritedSocket? {
        if case .listener(let name) = slot, let i = sockets.firstIndex(where: { $0.storedEntry == nil && $0.name == name }) {
            return sockets.remove(at: i)
        }
        guard let i = sockets.firstIndex(where: { $0.storedEntry == slot }) else { return nil }
        return sockets.remove(at: i)
    }

    public mutating func takeSockets(of name: String, where wanted: (String) -> Bool) -> [InheritedSocket] {
        func key(_ s: InheritedSocket) -> String? {
            if case .socket(let n, let k) = s.storedEntry, n == name, wanted(k) { return k }
            return nil
        }
        let found = sockets.filter { key($0) != nil }.sorted { a, b in
            let (ka, kb) = (key(a)!, key(b)!)
            if let na = Int(ka), let nb = Int(kb) { return na < nb }
            return ka < kb
        }
        sockets.removeAll { key($0) != nil }
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
