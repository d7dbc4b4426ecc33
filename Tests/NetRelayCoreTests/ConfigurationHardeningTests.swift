import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

#if canImport(Glibc)
import Glibc
#endif

/// Configurations written by a careless operator or an attacker: one-line files with thousands
/// of values, huge strings, ports with leading zeros, paths that are not regular files.
@Suite("Configuration hardening")
struct ConfigurationHardeningTests {
    private func messages(_ json: String) -> [String] {
        switch ConfigurationDecoder.decode(json, file: "test.json") {
        case .success: return []
        case .failure(let error): return error.issues.map(\.description)
        }
    }

    private func listener(_ fields: String) -> String { "{\"listeners\": [{\(fields)}]}" }

    @Test("A port with leading zeros is refused with what to write", arguments: [
        ("127.0.0.1:00080", #"test.json:1:63: listeners[0].listen: "127.0.0.1:00080" has a port with leading zeros; write "127.0.0.1:80""#),
        ("[::1]:02000", #"test.json:1:63: listeners[0].listen: "[::1]:02000" has a port with leading zeros; write "[::1]:2000""#),
        ("127.0.0.1:+80", #"test.json:1:63: listeners[0].listen: "+80" in "127.0.0.1:+80" is not a port; ports are 0-65535"#),
    ])
    func leadingZeros(_ listen: String, _ expected: String) {
        #expect(messages(listener(#""name": "echo", "kind": "tcp-echo", "listen": "\#(listen)""#)) == [expected])
    }

    @Test("Port 0 and ordinary ports still parse")
    func plainPorts() throws {
        #expect(try Endpoint.parse("127.0.0.1:0").get().port == 0)
        #expect(try Endpoint.parse("127.0.0.1:80").get().port == 80)
        #expect(try Endpoint.parse("[::1]:65535").get().port == 65535)
    }

    @Test("A 1 MB value is quoted as an excerpt with its length, wherever it is echoed")
    func hugeValuesAreCut() {
        let huge = String(repeating: "n", count: 1 << 20)
        let cut = "\"" + String(repeating: "n", count: 64) + "…\" (1048576 bytes)"
        let cases: [(String, String)] = [
            // An invalid name, an unknown kind, an address, an unknown key (also in the JSON path).
            (listener(#""name": "\#(huge)", "kind": "tcp-echo", "listen": "127.0.0.1:1""#), "listeners[0].name: \(cut) is not a valid name"),
            (listener(#""name": "a", "kind": "\#(huge)", "listen": "127.0.0.1:1""#), "listeners[0].kind: \(cut) is not one of"),
            (listener(#""name": "a", "kind": "tcp-echo", "listen": "\#(huge)""#), "listeners[0].listen: \(cut) is not an address and port"),
            (listener(#""name": "a", "kind": "tcp-echo", "listen": "127.0.0.1:\#(huge)""#), "is not a port"),
            (listener(#""name": "a", "kind": "tcp-echo", "listen": "127.0.0.1:1", "\#(huge)": 1"#),
             "listeners[0].\(String(repeating: "n", count: 64))…: unknown key \(cut) in a tcp-echo listener"),
            (listener(#""name": "a", "kind": "tcp-echo", "listen": "127.0.0.1:1", "idleTimeout": "\#(huge)""#), "got the string \(cut)"),
            ("{\"listeners\": [{\"name\": \"\(huge)\"}, {\"name\": \"\(huge)\"}]}", "the name \(cut) is already used by listeners[0]"),
            ("{\"\(huge)\": 1, \"\(huge)\": 2}", "invalid JSON: duplicate key \(cut)"),
        ]
        for (json, fragment) in cases {
            let found = messages(json)
            #expect(found.contains { $0.contains(fragment) }, "\(fragment.prefix(120)) in \(found.map { $0.prefix(300) })")
            for line in found { #expect(line.utf8.count < 1024, "a message of \(line.utf8.count) bytes: \(line.prefix(200))") }
        }
    }

    @Test("Short values are quoted whole, as before")
    func shortValuesWhole() {
        let name = String(repeating: "x", count: 64)
        #expect(JSONNode.excerpt(name) == "\"\(name)\"")
        #expect(JSONNode.excerpt(name + "y") == "\"\(name)…\" (65 bytes)")
        #expect(JSONNode.excerpt("é\n") == "\"é\\n\"")
    }

    @Test("Columns stay right far along one line, also after multi-byte characters")
    func columnsOnOneLongLine() throws {
        // 10,000 values on one line, then an error: its column is counted in characters.
        let values = Array(repeating: "\"é\"", count: 10_000).joined(separator: ",")
        let text = "[\(values), x]"
        do {
            _ = try JSONParser.parse(text)
            Issue.record("parsed invalid JSON")
        } catch {
            // "[" + 10,000 × "\"é\"" (3 characters) + 9,999 commas + ", " then x.
            #expect(error.location == SourceLocation(line: 1, column: 1 + 30_000 + 9_999 + 2 + 1))
        }
        let node = try JSONParser.parse("[\"é\", 1,\n 2, \"ü\", 3]")
        guard case .array(let items) = node.value else { Issue.record("shape"); return }
        #expect(items.map(\.location) == [SourceLocation(line: 1, column: 2), SourceLocation(line: 1, column: 7),
                                          SourceLocation(line: 2, column: 2), SourceLocation(line: 2, column: 5),
                                          SourceLocation(line: 2, column: 10)])
    }

    @Test("Bind conflicts are found as the pairwise rule finds them (random listeners, fixed seed)")
    func bindClaimsMatchPairwise() {
        var rng = SplitMix(seed: 11)
        let addresses = ["127.0.0.1", "127.0.0.2", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1"]
        for _ in 0..<200 {
            var specs: [(Endpoint, Bool, Bool)] = []  // endpoint, tcp, reusePort
            for _ in 0..<Int(rng.next() % 12) {
                let a = IPAddress(addresses[Int(rng.next() % UInt64(addresses.count))])!
                specs.append((Endpoint(address: a, port: Int(rng.next() % 3)), rng.next() % 2 == 0, rng.next() % 3 == 0))
            }
            var claims = ConfigurationDecoder.BindClaims()
            for (i, (e, tcp, reuse)) in specs.enumerated() where e.port != 0 {
                let expected = specs[..<i].indices.first { j in
                    let (f, ftcp, freuse) = specs[j]
                    return f.port == e.port && ftcp == tcp && ConfigurationDecoder.overlaps(e.address, f.address) && !(reuse && freuse)
                }
                #expect(claims.firstConflict(e, tcp: tcp, reusePort: reuse) == expected, "\(specs) at \(i)")
                claims.add(i, e, tcp: tcp, reusePort: reuse)
            }
        }
    }

    @Test("Thousands of listeners on one line decode, and a clash among them is still found")
    func thousandsOfListenersOnOneLine() {
        let items = (0..<5000).map { i in
            i % 2 == 0 ? "{\"name\":\"t\(i)\",\"kind\":\"tcp-echo\",\"listen\":\"127.0.\(i / 250).\(i % 250 + 1):\(10000 + i)\"}"
                : "{\"name\":\"u\(i)\",\"kind\":\"udp-responder\",\"listen\":\"127.0.0.1:\(10000 + i)\"}"
        }
        let json = "{\"listeners\":[" + items.joined(separator: ",") + "]}"
        guard case .success(let c) = ConfigurationDecoder.decode(json, file: "test.json") else {
            Issue.record("refused: \(messages(json).prefix(3))")
            return
        }
        #expect(c.listeners.count == 5000)
        let clash = "{\"listeners\":[" + (items + ["{\"name\":\"late\",\"kind\":\"udp-responder\",\"listen\":\"0.0.0.0:10001\"}"]).joined(separator: ",") + "]}"
        let found = messages(clash)
        #expect(found.count == 1 && found[0].contains("listeners[5000].listen: 0.0.0.0:10001/udp is already claimed by listeners[1] (\"u1\" on 127.0.0.1:10001)"), "\(found)")
    }

    @Test("Only regular files are read: a FIFO, a device and a directory are refused at once")
    func onlyRegularFiles() throws {
        let dir = "/tmp/netrelayd-cfghard-\(getpid())"
        mkdir(dir, 0o700)
        defer {
            unlink(dir + "/fifo")
            rmdir(dir)
        }
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        // Nobody writes to the FIFO: a blocking open or read would hang this test for ever.
        for (path, expected) in [(dir + "/fifo", "is a FIFO (named pipe), not a regular file"),
                                 ("/dev/zero", "is a character device, not a regular file"),
                                 (dir, "is a directory; pass the path of the JSON file")] {
            guard case .failure(let error) = ConfigurationLoader.load(path: path) else {
                Issue.record("\(path) was read")
                continue
            }
            #expect(error.issues.count == 1 && error.issues[0].description.hasPrefix("\(path): \(expected)"), "\(error)")
        }
    }
}

/// A small deterministic generator, so a failure can be replayed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Endpoint parsing on bytes")
struct EndpointBytesTests {
    @Test("A combining mark after the colon is not part of a port", arguments: ["127.0.0.1:\u{301}80", "[::1]:\u{301}80", "127.0.0.1\u{301}:80"])
    func combiningMarks(_ text: String) {
        #expect((try? Endpoint.parse(text).get()) == nil, "\(text) parsed")
    }
}
