#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NetRelayConfig

/// systemd's file descriptor store (FileDescriptorStoreMax=, FDSTORE=1, sd_notify(3)): sockets
/// kept by the service manager while a restart job runs and passed to the next instance in
/// LISTEN_FDS, under the FDNAME= they were stored with (`StoredSocketName`).
///
/// `capacity` is how many entries the unit's store holds; 0 (the daemon run by hand, or a unit
/// without a store) turns every call into a no-op: a restart then closes every socket.
/// systemd 252 does not tell a service the size of its store (254+ sets $FDSTORE), so the unit
/// mirrors FileDescriptorStoreMax= in Environment=NETRELAYD_FDSTORE_MAX=.
public final class FileDescriptorStore: Sendable {
    public let capacity: Int
    private let notifier: any ServiceNotifier
    private let used = NIOLockedValueBox(Set<String>())

    public init(capacity: Int, notifier: any ServiceNotifier) {
        self.capacity = max(0, capacity)
        self.notifier = notifier
    }

    public static let disabled = FileDescriptorStore(capacity: 0, notifier: NullNotifier())

    public var enabled: Bool { capacity > 0 }
    /// Entries stored by this instance.
    public var count: Int { used.withLockedValue { $0.count } }

    /// Stores a duplicate of `fd` (the daemon keeps its own) under `name`. False when the store is
    /// off or full, or systemd could not be told.
    @discardableResult
    public func store(_ fd: CInt, as name: StoredSocketName) -> Bool {
        guard enabled else { return false }
        let key = name.description
        let room = used.withLockedValue { set -> Bool in
            if set.contains(key) { return true }
            guard set.count < capacity else { return false }
            set.insert(key)
            return true
        }
        guard room else { return false }
        if notifier.notify([.fdStore(name: key)], fileDescriptors: [fd]) { return true }
        used.withLockedValue { _ = $0.remove(key) }
        return false
    }

    /// `.fdStoreRemove`: systemd closes its copy (for a listener, the port is free once ours is
    /// closed too).
    public func remove(_ name: StoredSocketName) {
        guard enabled else { return }
        used.withLockedValue { _ = $0.remove(name.description) }
        notifier.notify([.fdStoreRemove(name: name.description)])
    }

    /// Removes a listener's bound sockets: `listen/NAME` and the further ones (`listen/NAME/KEY`)
    /// this instance stored.
    public func removeListener(_ name: String) {
        remove(.listener(name))
        let further = used.withLockedValue { set in
            set.compactMap { key -> StoredSocketName? in
                guard let stored = StoredSocketName(parsing: key), case .socket(name, _) = stored else { return nil }
                return stored
            }
        }
        for socket in further { remove(socket) }
    }

    /// Removes a stored socket nobody adopts from the store and closes it, saying why.
    public func discard(_ socket: InheritedSocket, logger: Logger, why: String) {
        if let name = socket.storedEntry { remove(name) }
        close(socket.fd)
        logger.notice("Closed fd \(socket.fd) (\(socket.name)) from the previous instance and removed it from the file descriptor store: \(why)", metadata: ["event": "fdstore-removed"])
    }

    /// The store's size, from the environment: $NETRELAYD_FDSTORE_MAX (the unit's Environment=
    /// line), else $FDSTORE (systemd 254+ sets it), and only under a service manager
    /// (NOTIFY_SOCKET set). 0: no store.
    public static func capacity(environment: [String: String]) -> Int {
        guard let socket = environment["NOTIFY_SOCKET"], !socket.isEmpty else { return 0 }
        // The unit's own line wins, so that NETRELAYD_FDSTORE_MAX=0 turns the hand-over off.
        if let v = environment["NETRELAYD_FDSTORE_MAX"] { return max(0, Int(v) ?? 0) }
        return max(0, environment["FDSTORE"].flatMap { Int($0) } ?? 0)
    }

    /// What a configuration wants stored: the sockets each listener binds (`ListenerFootprint`)
    /// and the connections of those that hand theirs over.
    public static func demand(_ configuration: Configuration) -> Int {
        configuration.footprints.reduce(0) { sum, f in
            sum + f.storedSockets + (f.connections.map { $0.handedOver ? $0.most : 0 } ?? 0)
        }
    }

    /// The start/check-config warning when the store cannot hold what a restart would store.
    public static func warning(_ configuration: Configuration, file: String, capacity: Int) -> ConfigurationIssue? {
        guard capacity > 0 else { return nil }
        let need = demand(configuration)
        guard need > capacity else { return nil }
        let limits = configuration.connectionLimitsPhrase { $0.handedOver }
        let what = limits.map { "each listener plus \($0.phrase)" } ?? "each listener"
        let lower = limits.map { ", or lower \($0.keys)" } ?? ""
        return ConfigurationIssue(file: file, location: configuration.largestConnectionLimitLocation, path: "listeners", message: "a restart would store \(need) sockets (\(what)) but the file descriptor store holds \(capacity) (NETRELAYD_FDSTORE_MAX): connections beyond it are closed at a restart, as without a store; raise FileDescriptorStoreMax= and NETRELAYD_FDSTORE_MAX= together in a drop-in\(lower)", severity: .warning)
    }
}
