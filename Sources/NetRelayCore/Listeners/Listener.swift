import Logging
import NIOCore
import NIOPosix
import NetRelayConfig

/// One running listener, as the supervisor sees it: of any kind. The supervisor starts,
/// updates and stops listeners; protocol logic lives in their channel handlers. Each kind is a
/// `TypedListener` on its own spec type, whose phase goes `idle → starting → running →
/// stopping → stopped` (`ListenerLifecycle`).
public protocol Listener: AnyObject, Sendable {
    var spec: ListenerSpec { get }
    var stats: ListenerStats { get }
    /// Where it serves once started (a port of 0 resolved to the real one), for STATUS and
    /// `/status`; an announcer's destination.
    var localDescription: String { get }
    /// Binds (or adopts an inherited socket) and starts serving. Throws `ListenerStartError`.
    func start() async throws
    /// Whether `newSpec` can be applied without closing the socket (same kind and bind parameters).
    func canUpdate(to newSpec: ListenerSpec) -> Bool
    /// Applies `newSpec` in place: new traffic uses it at once; connections opened under the
    /// old spec are closed gracefully (in-flight echoes delivered) within `gracePeriod`. Only
    /// after `canUpdate` said yes: a spec it refuses is logged and ignored.
    /// Returns false when it could not (it has logged why): it keeps running as it was.
    func update(to newSpec: ListenerSpec, gracePeriod: TimeAmount) async -> Bool
    /// Closes the listening socket (the port is free when this returns) and stops sending.
    func stopAccepting() async
    /// Called on reload for a listener whose spec did not change: re-reads what the spec
    /// refers to outside the configuration (an interface's broadcast address) and applies it in
    /// place. Throws `ListenerStartError` when that no longer resolves; the listener then keeps
    /// what it had.
    func revalidate() async throws
    /// Lets open connections finish their in-flight work for up to `gracePeriod`, then closes
    /// them. Returns when all are closed.
    func drain(gracePeriod: TimeAmount) async
    /// For a restart (after `stopAccepting`): its connections go to systemd's fd store where
    /// they fit, the rest drain. Returns how many were stored.
    func handOver(gracePeriod: TimeAmount) async -> Int
    /// Takes over the connections the previous instance stored under its name (after `start`).
    /// Returns how many it adopted; the others are closed and leave the store.
    func adoptConnections(_ stored: [InheritedSocket]) async -> Int
    /// What it exports besides its counters, read now (`ListenerExtras`).
    var extras: ListenerExtras { get }
}

/// What every listener needs from the daemon.
public struct ListenerContext: Sendable {
    public var group: MultiThreadedEventLoopGroup
    public var logger: Logger
    /// Sockets handed over by systemd (socket activation, the fd store), taken by name.
    public var sockets: InheritedSockets
    /// systemd's file descriptor store (disabled outside systemd): listeners store their sockets.
    public var fdStore: FileDescriptorStore
    /// The table of kinds listeners are made from (a test adds its own kind), with what each
    /// kind's listeners share in this daemon.
    public var kinds: RunningKinds

    public init(group: MultiThreadedEventLoopGroup, logger: Logger, sockets: InheritedSockets = InheritedSockets(), fdStore: FileDescriptorStore = .disabled, kinds: ListenerKinds = .standard) {
        self.group = group
        self.logger = logger
        self.sockets = sockets
        self.fdStore = fdStore
        self.kinds = RunningKinds(kinds, DaemonResources(group: group, logger: logger))
    }

    /// A logger whose lines carry LISTENER= (and the kind) for journald.
    public func logger(for spec: ListenerSpec) -> Logger {
        var l = logger
        l[metadataKey: "listener"] = .string(spec.name)
        l[metadataKey: "kind"] = .string(spec.kindName)
        return l
    }
}

/// Why a listener did not start, in the words of the log line:
/// `Failed to bind tcp-echo "echo" to 127.0.0.1:2000: address already in use`.
public struct ListenerStartError: Error, Sendable, CustomStringConvertible {
    public var listener: String
    public var kind: String
    /// "bind", "adopt", "join", ...
    public var action: String
    public var address: String
    public var reason: String
    /// For ERRNO= to systemd, when the failure came from a system call.
    public var errno: Int32?

    public init(spec: ListenerSpec, action: String, address: String, reason: String, errno: Int32?) {
        self.listener = spec.name
        self.kind = spec.kindName
        self.action = action
        self.address = address
        self.reason = reason
        self.errno = errno
    }

    public init(spec: ListenerSpec, action: String, address: String, error: Error) {
        let (reason, code) = describeSocketError(error)
        self.init(spec: spec, action: action, address: address, reason: reason, errno: code)
    }

    public var description: String {
        "Failed to \(action) \(kind) \"\(listener)\" to \(address): \(reason)"
    }
}

/// A system call error as "address already in use" plus its errno, from NIO's error types.
public func describeSocketError(_ error: Error) -> (String, Int32?) {
    if let io = error as? IOError {
        return (errnoDescription(io.errnoCode), io.errnoCode)
    }
    if let e = error as? ListenerStartError { return (e.reason, e.errno) }
    return ("\(error)", nil)
}
