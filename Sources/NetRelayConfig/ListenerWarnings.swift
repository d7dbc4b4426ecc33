/// One listener's warnings as they are found, each placed at the key it is about (or at the
/// listener when the key is not written in the file, the default being what it warns about).
public struct ListenerWarnings: Sendable {
    let file: String
    /// `listeners[2]`.
    let path: String
    let source: ListenerSource?
    public private(set) var issues: [ConfigurationIssue] = []

    init(file: String, path: String, source: ListenerSource?) {
        self.file = file
        self.path = path
        self.source = source
    }

    /// `config.json:14:17: warning: listeners[2].ttl: <message>`.
    public mutating func warn(_ key: String, _ message: String) {
        issues.append(ConfigurationIssue(file: file, location: source?.location(of: key), path: "\(path).\(key)",
                                         message: message, severity: .warning))
    }
}

/// Where one listener and its keys are in the file (the locations of the values).
public struct ListenerSource: Sendable {
    public var location: SourceLocation
    var keys: [(key: String, location: SourceLocation)]

    init(_ node: JSONNode) {
        location = node.location
        if case .object(let members) = node.value {
            keys = members.map { ($0.key, $0.value.location) }
        } else {
            keys = []
        }
    }

    /// The key's value, or the listener when the key is not in the file.
    public func location(of key: String) -> SourceLocation {
        keys.first { $0.key == key }?.location ?? location
    }
}

/// Where each decoded listener was written, by index in `Configuration.listeners`: warnings are
/// found after decoding and placed with it. Not part of what a configuration is: two
/// configurations that differ only in their layout are equal.
public struct ListenerSources: Sendable, Equatable {
    var listeners: [ListenerSource] = []

    public init() {}

    public subscript(_ index: Int) -> ListenerSource? {
        listeners.indices.contains(index) ? listeners[index] : nil
    }

    public static func == (_: ListenerSources, _: ListenerSources) -> Bool { true }
}
