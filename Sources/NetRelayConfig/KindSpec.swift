/// The protocol a listener's socket speaks, for bind-conflict checks.
public enum Transport: String, Sendable {
    case tcp, udp
}

/// Where a listener is, for its label, the bind-conflict checks and the HTTP endpoint's port.
public enum ListenerAddress: Sendable, Equatable {
    /// It binds this address and port for `transport`; two such listeners may share a port
    /// when both set SO_REUSEPORT (`reusePort`).
    case binds(Endpoint, Transport, reusePort: Bool)
    /// It binds an ephemeral port and sends to this destination ("to 239.255.0.1:8088").
    case sends(to: Endpoint)
}

/// A kind's spec: its decoded configuration (`TCPEchoSpec`, `AnnouncerSpec`, ...), and the facts
/// about it that the configuration, the supervisor and the budgets need without knowing the kind.
/// (What a listener resolves from its spec against the host when it runs is its *setup*.) Every
/// requirement is stated by the kind itself (no default implementations), so a new kind that
/// forgets one does not compile.
public protocol KindSpec: Sendable, Equatable {
    /// The word of the config's "kind" key, of log lines and of the `kind` metric label.
    static var kindName: String { get }
    /// What it binds (or, binding nothing of its own, where it sends).
    var address: ListenerAddress { get }
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
