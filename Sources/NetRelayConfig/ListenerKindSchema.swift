/// A listener kind as the configuration sees it: the keys it accepts and how they are read into
/// its spec. `ListenerKind` (NetRelayCore, Listeners/ListenerKind.swift) adds what the daemon
/// needs to run one; `ConfigurationKinds.standard` lists the kinds. This half is in the
/// configuration target, which depends on nothing, so that check-config's decoding and the fuzzer
/// build without NIO.
package protocol ListenerKindSchema: Sendable {
    associatedtype Spec: KindSpec
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

    package func decodeSpec(_ r: ObjectReader) -> (any KindSpec)? { decode(r) }
}
