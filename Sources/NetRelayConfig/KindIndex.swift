/// The table of kinds as the decoder reads it: the kinds by name, and which kinds own each key
/// (for "\"group\" is a setting of multicast-announcer listeners").
struct KindIndex {
    let names: [String]
    let byName: [String: any ListenerKindSchema]
    /// A key of some kinds -> "tcp-echo, udp-responder and broadcast-rebroadcaster".
    let keyOwners: [String: String]
    /// The same for a key written at the top level, where "name" and "kind" belong to every listener.
    let topLevelOwners: [String: String]

    init(_ kinds: [any ListenerKindSchema]) {
        names = kinds.map(\.name)
        byName = Dictionary(kinds.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var owners: [String: [String]] = [:]
        for kind in kinds {
            for key in kind.keys where owners[key]?.last != kind.name { owners[key, default: []].append(kind.name) }
        }
        keyOwners = owners.mapValues(Self.list)
        topLevelOwners = keyOwners.merging(["name": "every", "kind": "every"]) { _, every in every }
    }

    /// "a", "a and b", "a, b and c".
    static func list(_ words: [String]) -> String {
        guard words.count > 1 else { return words.first ?? "" }
        return words.dropLast().joined(separator: ", ") + " and " + words.last!
    }
}
