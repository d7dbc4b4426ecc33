import NetRelayConfig

/// The table of kinds, read like OpenBSD inetd's `biltins[]`: one row per kind. The decoder,
/// the warnings, the supervisor, STATUS=, `/metrics` and `/status.json` read it; none of them
/// names a kind. This file is the one place outside a kind's folder that names the kinds.
public struct ListenerKinds: Sendable {
    let all: [any ListenerKind]

    init(_ all: [any ListenerKind]) {
        self.all = all
    }

    public static let standard = ListenerKinds([
        TCPEchoKind(),
        UDPResponderKind(),
        BroadcastKind(),
        AnnouncerKind(),
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

    /// The kind's tag; a kind not in the table exports nothing.
    func tag(of spec: ListenerSpec) -> ListenerKindTag {
        kind(of: spec)?.tag ?? ListenerKindTag(name: spec.kindName, counters: [], families: [], holdsConnections: false)
    }
}

/// The table of kinds as one daemon runs it: each row with the state its listeners share.
public struct RunningKinds: Sendable {
    struct Row: Sendable {
        let kind: any ListenerKind
        let shared: any KindShared
        /// The listener for a spec of this kind; nil for another kind's.
        let listener: @Sendable (ListenerSpec, ListenerContext) -> (any Listener)?
    }

    let table: ListenerKinds
    let rows: [Row]

    init(_ table: ListenerKinds, _ daemon: DaemonResources) {
        self.table = table
        self.rows = table.all.map { Self.row($0, daemon) }
    }

    private static func row<K: ListenerKind>(_ kind: K, _ daemon: DaemonResources) -> Row {
        let shared = kind.makeShared(daemon)
        return Row(kind: kind, shared: shared) { spec, context in
            spec.kindSpec(as: K.Spec.self).map { kind.listener(name: spec.name, spec: $0, context: context, shared: shared) }
        }
    }

    /// The listener for `spec`; one that fails to start when its kind is not in the table.
    public func listener(for spec: ListenerSpec, context: ListenerContext) -> any Listener {
        for row in rows {
            if let listener = row.listener(spec, context) { return listener }
        }
        return UnregisteredKindListener(spec: spec, kinds: table.names)
    }

    /// Every kind takes what it uses of a configuration just loaded.
    func configure(_ configuration: Configuration) {
        for row in rows { row.shared.configure(configuration) }
    }

    /// SIGUSR1's lines about the kinds as a whole.
    var statistics: [String] { rows.flatMap(\.shared.statistics) }
}

/// Decoding with a table of kinds of the daemon's (a test's, with a kind of its own).
extension ConfigurationDecoder {
    static func decode(_ text: String, file: String, kinds: ListenerKinds) -> Result<Configuration, ConfigurationError> {
        decode(Array(text.utf8), file: file, kinds: kinds.schemas)
    }
}
