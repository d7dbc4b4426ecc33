import Foundation
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// config/netrelayd.schema.json and the decoder describe the same keys. The decoder's side is
/// read from the decoder itself: the keys it asks for (its "known keys are: ..." message for a
/// key nobody knows), the keys it reports as "missing required key", and the table of kinds (ListenerKinds.standard).
/// A key added to one side only fails here with the key, the kind and the side it is missing on.
@Suite("JSON Schema matches the decoder")
struct SchemaDriftTests {
    static let schemaPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/netrelayd.schema.json").path

    /// A key no real key is near, so the decoder lists every key it knows instead of a "did you mean".
    static let probeKey = "zzzzzzzzzzzzzzzzzzzzzzzz"

    /// A minimal valid listener of each kind (the probe key is added to it).
    static let minimal: [String: String] = [
        TCPEchoSpec.kindName: #""listen": "127.0.0.1:2000""#,
        UDPResponderSpec.kindName: #""listen": "127.0.0.1:2001""#,
        BroadcastSpec.kindName: #""listen": "127.0.0.1:2003", "target": "127.255.255.255:2002""#,
        AnnouncerSpec.kindName: #""group": "239.255.0.1", "port": 8088"#,
    ]

    /// ", " and the keys of `minimal` for this kind ("" for a kind missing there: `everyKindHasAMinimalListener` says so).
    static func minimalKeys(_ kind: String) -> String {
        minimal[kind].map { ", " + $0 } ?? ""
    }

    /// The kinds of the table of kinds, by name.
    static let kindNames = ListenerKinds.standard.names

    static func schema() throws -> JSONNode {
        let text = try String(contentsOfFile: schemaPath, encoding: .utf8)
        return try JSONParser.parse(text)
    }

    /// The decoder's messages for a document.
    static func messages(_ json: String) -> [String] {
        switch ConfigurationDecoder.decode(json, file: "probe.json") {
        case .success: return []
        case .failure(let e): return e.issues.map(\.description)
        }
    }

    /// The keys listed after "known keys are: " in the decoder's unknown-key message.
    static func knownKeys(_ json: String) -> Set<String> {
        guard let m = messages(json).first(where: { $0.contains("unknown key \"\(probeKey)\"") }),
              let r = m.range(of: "known keys are: ") else { return [] }
        return Set(m[r.upperBound...].split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        })
    }

    static func decoderTopLevelKeys() -> Set<String> {
        knownKeys(#"{"\#(probeKey)": 1, "listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:2000"}]}"#)
    }

    static func decoderKeys(kind: String) -> Set<String> {
        knownKeys(#"{"listeners": [{"name": "x", "kind": "\#(kind)"\#(minimalKeys(kind)), "\#(probeKey)": 1}]}"#)
    }

    /// The keys the decoder calls required for a listener of this kind that has only name and kind.
    static func decoderRequired(kind: String) -> Set<String> {
        var keys: Set<String> = ["name", "kind"]
        for m in messages(#"{"listeners": [{"name": "x", "kind": "\#(kind)"}]}"#) {
            guard let r = m.range(of: "missing required key \"") else { continue }
            keys.insert(String(m[r.upperBound...].prefix { $0 != "\"" }))
        }
        return keys
    }

    // ------------------------------------------------------------------ schema side
    static func member(_ node: JSONNode?, _ key: String) -> JSONNode? {
        guard let node, case .object(let members) = node.value else { return nil }
        return members.first { $0.key == key }?.value
    }
    static func keys(_ node: JSONNode?) -> Set<String> {
        guard let node, case .object(let members) = node.value else { return [] }
        return Set(members.map(\.key))
    }
    static func strings(_ node: JSONNode?) -> Set<String> {
        guard let node, case .array(let items) = node.value else { return [] }
        return Set(items.compactMap { if case .string(let s) = $0.value { return s } else { return nil } })
    }

    /// "missing in the schema: a, b; missing in the decoder: c" or nil when equal.
    static func drift(_ what: String, decoder: Set<String>, schema: Set<String>) -> String? {
        guard decoder != schema else { return nil }
        var parts: [String] = []
        let notInSchema = decoder.subtracting(schema).sorted(), notInDecoder = schema.subtracting(decoder).sorted()
        if !notInSchema.isEmpty { parts.append("the decoder accepts \(notInSchema.map { "\"\($0)\"" }.joined(separator: ", ")) but config/netrelayd.schema.json does not list it") }
        if !notInDecoder.isEmpty { parts.append("config/netrelayd.schema.json lists \(notInDecoder.map { "\"\($0)\"" }.joined(separator: ", ")) but the decoder does not accept it") }
        return "\(what): " + parts.joined(separator: "; ")
    }

    @Test("The decoder's key lists could be read (the probe works)")
    func probeWorks() {
        #expect(Self.decoderTopLevelKeys().contains("listeners"))
        for kind in Self.kindNames {
            #expect(Self.decoderKeys(kind: kind).contains("name"), "no keys read for \(kind)")
        }
        #expect(Self.drift("x", decoder: ["a", "b"], schema: ["b", "c"]) ==
                #"x: the decoder accepts "a" but config/netrelayd.schema.json does not list it; config/netrelayd.schema.json lists "c" but the decoder does not accept it"#)
    }

    @Test("Every kind of the table of kinds has a minimal listener in SchemaDriftTests.minimal")
    func everyKindHasAMinimalListener() {
        for kind in Self.kindNames where Self.minimal[kind] == nil {
            Issue.record("add a minimal valid \(kind) listener (its required keys) to SchemaDriftTests.minimal")
        }
    }

    @Test("Top-level keys: the schema's properties are the decoder's keys (plus $schema)")
    func topLevel() throws {
        let schema = try Self.schema()
        let props = Self.keys(Self.member(schema, "properties"))
        #expect(props.contains("$schema"), "the schema must allow \"$schema\" at the top level")
        if let d = Self.drift("top level (properties of the schema's root)", decoder: Self.decoderTopLevelKeys(), schema: props.subtracting(["$schema"])) {
            Issue.record(Comment(rawValue: d))
        }
        #expect(Self.strings(Self.member(schema, "required")) == ["listeners"])
        #expect(Self.messages(#"{"$schema": "netrelayd.schema.json", "listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:2000"}]}"#) == [],
                "the decoder must accept and ignore \"$schema\"")
    }

    @Test("Listener kinds: the schema's enum is the table of kinds, each with its own $defs entry")
    func kinds() throws {
        let schema = try Self.schema()
        let defs = Self.member(schema, "$defs")
        let listener = Self.member(defs, "listener")
        let enumKinds = Self.strings(Self.member(Self.member(Self.member(listener, "properties"), "kind"), "enum"))
        if let d = Self.drift("listener kinds ($defs.listener.properties.kind.enum)", decoder: Set(Self.kindNames), schema: enumKinds) {
            Issue.record(Comment(rawValue: d))
        }
        for kind in Self.kindNames {
            #expect(Self.member(defs, kind) != nil, "config/netrelayd.schema.json has no $defs.\(kind)")
        }
    }

    @Test("Keys of each kind: the schema's properties are the decoder's keys", arguments: SchemaDriftTests.kindNames)
    func keysOfKind(_ kind: String) throws {
        let def = Self.member(Self.member(try Self.schema(), "$defs"), kind)
        let props = Self.keys(Self.member(def, "properties"))
        if let d = Self.drift("\(kind) keys ($defs.\(kind).properties)", decoder: Self.decoderKeys(kind: kind), schema: props) {
            Issue.record(Comment(rawValue: d))
        }
        if let d = Self.drift("\(kind) required keys ($defs.\(kind).required)", decoder: Self.decoderRequired(kind: kind),
                              schema: Self.strings(Self.member(def, "required"))) {
            Issue.record(Comment(rawValue: d))
        }
        if case .bool(false) = Self.member(def, "additionalProperties")?.value {} else {
            Issue.record("$defs.\(kind) must set \"additionalProperties\": false (the decoder refuses unknown keys)")
        }
    }

    @Test("The keys a row derives from its decoder (an empty object) are all it accepts, whatever else is written", arguments: SchemaDriftTests.kindNames)
    func tableKeys(_ kind: String) throws {
        let row = try #require(ListenerKinds.standard.all.first { $0.name == kind })
        if let d = Self.drift("\(kind) keys (its row in ListenerKinds.standard)", decoder: Self.decoderKeys(kind: kind),
                              schema: Set(row.keys).union(["name", "kind"])) {
            Issue.record(Comment(rawValue: d.replacingOccurrences(of: "config/netrelayd.schema.json", with: "the row")))
        }
    }

    /// A scalar JSON value as it is written (nil for lists and objects).
    static func text(_ node: JSONNode) -> String? {
        switch node.value {
        case .number(let t): return t
        case .bool(let b): return "\(b)"
        case .string(let s): return JSONString.quote(s)
        default: return nil
        }
    }

    @Test("Defaults: a key written with the schema's \"default\" decodes like the key left out", arguments: SchemaDriftTests.kindNames)
    func defaultsOfKind(_ kind: String) throws {
        let def = Self.member(Self.member(try Self.schema(), "$defs"), kind)
        guard case .object(let props) = Self.member(def, "properties")?.value else { Issue.record("no properties for \(kind)"); return }
        func decode(_ extra: String) throws -> ListenerSpec {
            try ConfigurationDecoder.decode(#"{"listeners": [{"name": "x", "kind": "\#(kind)"\#(Self.minimalKeys(kind))\#(extra)}]}"#, file: "probe.json").get().listeners[0]
        }
        let plain = try decode("")
        var checked = 0
        for p in props {
            guard let d = Self.member(p.value, "default"), let value = Self.text(d) else { continue }
            checked += 1
            if try decode(#", "\#(p.key)": \#(value)"#) != plain {
                Issue.record("\(kind).\(p.key): config/netrelayd.schema.json says the default is \(value), the decoder's default (the spec's) differs")
            }
        }
        #expect(checked > 0, "no defaults in the schema for \(kind)")
    }
}
