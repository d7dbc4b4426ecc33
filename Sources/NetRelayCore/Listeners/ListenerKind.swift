/// A listener kind: one row of the table of kinds (`ListenerKinds`). The configuration half
/// (`ListenerKindSchema`: keys, decoding) and the spec's own facts (`ListenerSettings`: label,
/// bind, warnings) are in the kind's Config/ folder; this half says how it runs. No requirement
/// has a default, so a kind that forgets a piece does not compile.
protocol ListenerKind: ListenerKindSchema {
    /// The listener serving `spec`, not started yet.
    func makeListener(name: String, spec: Spec, context: ListenerContext) -> any Listener
    /// Adds one listener's counts to the STATUS= line.
    func addStatus(_ stats: ListenerStats, of name: String, to status: inout StatusTally)
    /// The counters its listeners keep: what `/metrics` and `/status.json` export for them.
    var counters: [Counter] { get }
    /// Whether its listeners hold connections (the open-connections gauge and field).
    var holdsConnections: Bool { get }
}

extension ListenerKind {
    /// `makeListener` for a spec of this kind; nil for another kind's.
    func makeListener(for spec: ListenerSpec, context: ListenerContext) -> (any Listener)? {
        guard let settings = spec.settings(as: Spec.self) else { return nil }
        return makeListener(name: spec.name, spec: settings, context: context)
    }

    /// What the observability side knows of the kind.
    var tag: ListenerKindTag { ListenerKindTag(name: name, counters: counters, holdsConnections: holdsConnections) }
}

/// The table of kinds, read like OpenBSD inetd's `biltins[]`: one row per kind. The decoder,
/// the warnings, the listener factory, STATUS=, `/metrics` and `/status.json` read it; none of
/// them names a kind. Adding a kind is a folder under Listeners/ and a row here.
public struct ListenerKinds: Sendable {
    let all: [any ListenerKind]

    init(_ all: [any ListenerKind]) {
        self.all = all
    }

    public static let standard = ListenerKinds([
        TCPEchoKind(),
        UDPResponderKind(),
        BroadcastKind(),
        MulticastKind(),
    ])

    /// This table with one more row (a test's kind).
    func adding(_ kind: some ListenerKind) -> ListenerKinds {
        ListenerKinds(all + [kind])
    }

    var names: [String] { all.map(\.name) }

    var schemas: [any ListenerKindSchema] { all.map { $0 } }

    func kind(of spec: ListenerSpec) -> (any ListenerKind)? {
        all.first { $0.name == spec.kindName }
    }

    /// The listener for `spec`; one that fails to start when its kind is not in this table.
    func makeListener(_ spec: ListenerSpec, context: ListenerContext) -> any Listener {
        kind(of: spec)?.makeListener(for: spec, context: context) ?? UnregisteredKindListener(spec: spec, kinds: names)
    }

    /// The kind's tag; a kind not in the table exports no counters.
    func tag(of spec: ListenerSpec) -> ListenerKindTag {
        kind(of: spec)?.tag ?? ListenerKindTag(name: spec.kindName, counters: [], holdsConnections: false)
    }
}

/// Creates the listener for a spec, from the context's table of kinds.
public enum ListenerFactory {
    public static func make(_ spec: ListenerSpec, context: ListenerContext) -> any Listener {
        context.kinds.makeListener(spec, context: context)
    }
}

/// The configuration entry points with the standard table of kinds.
extension ConfigurationDecoder {
    public static func decode(_ bytes: [UInt8], file: String) -> Result<Configuration, ConfigurationError> {
        decode(bytes, file: file, kinds: .standard)
    }

    public static func decode(_ text: String, file: String) -> Result<Configuration, ConfigurationError> {
        decode(Array(text.utf8), file: file, kinds: .standard)
    }

    static func decode(_ text: String, file: String, kinds: ListenerKinds) -> Result<Configuration, ConfigurationError> {
        decode(Array(text.utf8), file: file, kinds: kinds)
    }

    static func decode(_ bytes: [UInt8], file: String, kinds: ListenerKinds) -> Result<Configuration, ConfigurationError> {
        decode(bytes, file: file, kinds: kinds.schemas)
    }
}

extension ConfigurationLoader {
    public static func load(path: String) -> Result<Configuration, ConfigurationError> {
        load(path: path, kinds: ListenerKinds.standard.schemas)
    }
}
