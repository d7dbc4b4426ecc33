/// The protocol a listener's socket speaks, for bind-conflict checks.
public enum Transport: String, Sendable {
    case tcp, udp
}

/// A listener kind's typed settings (`TCPEchoSpec`, `MulticastSpec`, ...): the facts about them
/// that the configuration, the supervisor and the budgets need without knowing the kind. Every
/// requirement is stated by the kind itself (no default implementations), so a new kind that
/// forgets one does not compile.
public protocol ListenerSettings: Sendable, Equatable {
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
    /// Valid settings that are probably not what the operator meant (never fatal).
    func warnings(_ w: inout KindWarnings)
}

extension ListenerSettings {
    /// Equality across kinds: settings of another kind are never equal.
    func isEqual(to other: any ListenerSettings) -> Bool {
        (other as? Self) == self
    }
}

/// A listener kind as the configuration sees it: the keys it accepts and how they are read.
/// `ListenerKind` (Listeners/ListenerKind.swift) adds what the daemon needs to run one; the
/// table of kinds (`ListenerKinds`) lists the four. This half depends on the configuration
/// code only, so that `scripts/fuzz` can build the decoder without NIO.
package protocol ListenerKindSchema: Sendable {
    associatedtype Spec: ListenerSettings
    /// Reads the keys; problems go to `r`'s collector. Nil when a required key is missing or
    /// invalid (whatever could be read was checked and reported). Every key is read through
    /// `r` even when absent (`raw` for a key read another way), so that `keys` lists it; the
    /// default of an absent key is the spec's own (`ObjectReader.read(_:_:into:)`).
    func decode(_ r: ObjectReader) -> Spec?
}

extension ListenerKindSchema {
    /// The config's "kind" word.
    package var name: String { Spec.kindName }

    /// Every key the kind accepts besides "name" and "kind", in the order its decoder reads
    /// them: what it asks an empty object for. Read from the decoder, so the two cannot differ.
    package var keys: [String] {
        let r = ObjectReader(JSONNode(value: .object([]), location: SourceLocation(line: 1, column: 1)),
                             path: "", what: "a listener", collector: IssueCollector(file: ""))!
        _ = decode(r)
        var seen = Set<String>()
        return r.askedKeys.filter { seen.insert($0).inserted }
    }

    package func decodeSettings(_ r: ObjectReader) -> (any ListenerSettings)? { decode(r) }
}
