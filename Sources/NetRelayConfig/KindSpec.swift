/// The protocol a listener's socket speaks, for bind-conflict checks.
public enum Transport: String, Sendable {
    case tcp, udp
}

/// A kind's spec: its decoded configuration (`TCPEchoSpec`, `AnnouncerSpec`, ...), and the facts
/// about it that the configuration, the supervisor and the budgets need without knowing the kind.
/// (What a listener resolves from its spec against the host when it runs is its *setup*.) Every
/// requirement is stated by the kind itself (no default implementations), so a new kind that
/// forgets one does not compile.
public protocol KindSpec: Sendable, Equatable {
    /// The word of the config's "kind" key, of log lines and of the `kind` metric label.
    static var kindName: String { get }
    /// What the listener binds, for log lines and conflict checks (nil: it only sends).
    var boundEndpoint: Endpoint? { get }
    /// The protocol of the bound socket (or of what it sends).
    var transport: Transport { get }
    /// Whether the socket is bound with SO_REUSEPORT (two such listeners may share a port).
    var reusePort: Bool { get }
    /// Where a listener that binds nothing sends to, for its label ("to 239.255.0.1:8088").
    var sendsTo: Endpoint? { get }
    /// The sockets and connections it may hold with `eventLoops` event loops (file descriptor
    /// budget, fd store).
    func footprint(eventLoops: Int) -> ListenerFootprint
    /// Its part in relay loops (`RelayLoops`): what it hears and where what it sends is heard;
    /// `.doesNotRelay` when it neither forwards nor replies.
    var relay: RelayPart { get }
    /// Valid values that are probably not what the operator meant (never fatal).
    func warnings(_ w: inout ListenerWarnings)
}

extension KindSpec {
    /// Equality across kinds: specs of another kind are never equal.
    func isEqual(to other: any KindSpec) -> Bool {
        (other as? Self) == self
    }
}
