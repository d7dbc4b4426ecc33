import Foundation
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

@Suite("Configuration decoding")
struct ConfigurationTests {
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    static let shippedConfigs: [String] = {
        var files = ["config/netrelayd.json"]
        let examples = packageRoot.appendingPathComponent("config/examples")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? []
        files += names.filter { $0.hasSuffix(".json") }.sorted().map { "config/examples/\($0)" }
        return files
    }()

    @Test("Every shipped config passes check-config", arguments: shippedConfigs)
    func shippedConfigIsValid(_ relative: String) {
        let path = Self.packageRoot.appendingPathComponent(relative).path
        if case .failure(let error) = ConfigurationLoader.load(path: path) {
            Issue.record("\(relative):\n\(error)")
        }
    }

    @Test("There is a default config and the classic example")
    func shippedConfigsExist() {
        #expect(Self.shippedConfigs.contains("config/netrelayd.json"))
        #expect(Self.shippedConfigs.contains("config/examples/classic.json"))
    }

    @Test("The default config has all four kinds, on loopback only")
    func defaultConfigIsSafe() throws {
        let path = Self.packageRoot.appendingPathComponent("config/netrelayd.json").path
        let config = try ConfigurationLoader.load(path: path).get()
        #expect(Set(config.listeners.map(\.kindName)) == Set(ListenerKinds.standard.names))
        for l in config.listeners {
            if let s = l.kindSpec(as: TCPEchoSpec.self) { #expect(s.listen.address.isLoopback) }
            if let s = l.kindSpec(as: UDPResponderSpec.self) { #expect(s.listen.address.isLoopback) }
            if let s = l.kindSpec(as: BroadcastSpec.self) {
                #expect(s.listen.address.isLoopback)
                #expect(s.target == .address(Endpoint(address: IPAddress("127.255.255.255")!, port: 2002)))
            }
            if let m = l.kindSpec(as: AnnouncerSpec.self) {
                #expect(m.interface == "lo")
                #expect(m.ttl == 1)
            }
        }
    }

    @Test("The classic example matches the article: TCP 2000 max 2, UDP 2001, broadcast to 2002, 230.185.192.108:8088 TTL 128")
    func classicExample() throws {
        let path = Self.packageRoot.appendingPathComponent("config/examples/classic.json").path
        let config = try ConfigurationLoader.load(path: path).get()
        var seen = Set<String>()
        for l in config.listeners {
            if let s = l.kindSpec(as: TCPEchoSpec.self) {
                #expect(s.listen.port == 2000 && s.maxConnections == 2 && s.replyPrefix == "Confirm data: ")
                seen.insert("tcp")
            }
            if let s = l.kindSpec(as: UDPResponderSpec.self) {
                #expect(s.listen.port == 2001 && s.replyPrefix == "confirmation message")
                seen.insert("udp")
            }
            if let s = l.kindSpec(as: BroadcastSpec.self) {
                #expect(s.target.port == 2002 && s.prefix == "Received client data:")
                seen.insert("broadcast")
            }
            if let m = l.kindSpec(as: AnnouncerSpec.self) {
                #expect(m.group == IPAddress("230.185.192.108") && m.port == 8088 && m.ttl == 128)
                seen.insert("multicast")
            }
        }
        #expect(seen.count == 4)
        // TTL 128 outside 239/8 is allowed but warned about.
        #expect(config.warnings(file: path).contains { $0.path == "listeners[3].ttl" })
    }

    @Test("Defaults apply when keys are absent")
    func defaults() throws {
        let config = try ConfigurationDecoder.decode(#"{"listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:2000"}, {"name": "u", "kind": "udp-responder", "listen": "[::1]:2001"}]}"#, file: "t").get()
        #expect(config.eventLoopThreads == 1)
        #expect(config.shutdownTimeout == 10)
        guard let t = config.listeners[0].kindSpec(as: TCPEchoSpec.self), let u = config.listeners[1].kindSpec(as: UDPResponderSpec.self) else {
            Issue.record("wrong kinds")
            return
        }
        #expect(t.maxConnections == 1024 && !t.allowHalfOpen && t.idleTimeout == 300 && t.replyPrefix.isEmpty)
        #expect(t.writeBufferHighWaterMark == 65536 && t.writeBufferLowWaterMark == 32768)
        #expect(u.rateLimit == 100 && u.rateLimitBurst == 200 && u.rejectBadSources && u.maxDatagramSize == 2048)
        #expect(u.listen.description == "[::1]:2001")
    }

    @Test("Two listeners may share a port when both opt into reusePort")
    func reusePortPermitsSharing() {
        let json = #"{"listeners": [{"name": "a", "kind": "tcp-echo", "listen": "0.0.0.0:2000", "reusePort": true}, {"name": "b", "kind": "tcp-echo", "listen": "0.0.0.0:2000", "reusePort": true}, {"name": "c", "kind": "udp-responder", "listen": "0.0.0.0:2000"}]}"#
        if case .failure(let e) = ConfigurationDecoder.decode(json, file: "t") { Issue.record("\(e)") }
    }

    @Test("A UTF-8 BOM, non-ASCII prefixes and \\u escapes are fine")
    func unicode() throws {
        let json = "\u{FEFF}" + #"{"listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:2000", "replyPrefix": "Bestätigt \u00e9\ud83d\ude00: "}]}"#
        let config = try ConfigurationDecoder.decode(json, file: "t").get()
        guard let t = config.listeners[0].kindSpec(as: TCPEchoSpec.self) else { return }
        #expect(t.replyPrefix == "Bestätigt é😀: ")
    }
}

@Suite("Addresses")
struct AddressTests {
    @Test("Endpoints parse and print in their canonical form")
    func endpoints() throws {
        #expect(try Endpoint.parse("127.0.0.1:2000").get().description == "127.0.0.1:2000")
        #expect(try Endpoint.parse("[::1]:2000").get().description == "[::1]:2000")
        #expect(try Endpoint.parse("[2001:DB8::0:1]:80").get().description == "[2001:db8::1]:80")
        #expect(try Endpoint.parse("0.0.0.0:0").get().port == 0)
        #expect(throws: Endpoint.ParseError.self) { try Endpoint.parse("1.2.3:80").get() }
        #expect(throws: Endpoint.ParseError.self) { try Endpoint.parse("[::1]2000").get() }
        #expect(throws: Endpoint.ParseError.self) { try Endpoint.parse("127.0.0.1:-1").get() }
    }

    @Test("CIDR blocks match their addresses, IPv4-mapped IPv6 included")
    func cidr() {
        let b = CIDRBlock("10.0.0.0/8")!
        #expect(b.contains(IPAddress("10.255.1.2")!))
        #expect(!b.contains(IPAddress("11.0.0.1")!))
        #expect(b.contains(IPAddress("::ffff:10.1.2.3")!))
        #expect(CIDRBlock("2001:db8::/32")!.contains(IPAddress("2001:db8:ffff::1")!))
        #expect(!CIDRBlock("2001:db8::/32")!.contains(IPAddress("10.0.0.1")!))
        #expect(CIDRBlock("0.0.0.0/0")!.contains(IPAddress("203.0.113.1")!))
        #expect(CIDRBlock("192.0.2.7")!.prefixLength == 32)
        #expect(CIDRBlock("10.0.0.0/33") == nil)
        #expect(CIDRBlock("10.1.2.3/8")!.description == "10.0.0.0/8")
    }

    @Test("Address classes used by the listeners")
    func classes() {
        #expect(IPAddress("127.3.4.5")!.isLoopback && IPAddress("::1")!.isLoopback)
        #expect(IPAddress("239.255.0.1")!.isMulticast && IPAddress("ff02::1")!.isMulticast && !IPAddress("10.0.0.1")!.isMulticast)
        #expect(IPAddress("255.255.255.255")!.isLimitedBroadcast)
        #expect(IPAddress("::")!.isUnspecified && IPAddress("0.0.0.0")!.isUnspecified)
    }
}

@Suite("JSON parser")
struct JSONParserTests {
    @Test("Positions are line and column of each value")
    func positions() throws {
        let node = try JSONParser.parse("{\n  \"a\": [1,\n   true]\n}")
        guard case .object(let members) = node.value, case .array(let items) = members[0].value.value else {
            Issue.record("shape")
            return
        }
        #expect(members[0].keyLocation == SourceLocation(line: 2, column: 3))
        #expect(items[1].location == SourceLocation(line: 3, column: 4))
    }

    @Test("Syntax errors say where and what", arguments: [
        ("{\"a\": 1,}", "1:9: trailing comma before '}' is not allowed in JSON; remove the last ','"),
        ("{\"a\": tru}", "1:7: unknown word 'tru'; expected a value (strings need double quotes)"),
        ("{\"a\": \"x\n\"}", "1:9: a string cannot contain a line break; close it with '\"' or write \\n"),
        ("{\"a\": 01}", "1:7: numbers cannot have leading zeros"),
        ("[1 2]", "1:4: expected ',' or ']' after an array element, found '2'; a comma may be missing"),
        ("{\"a\": \"\\q\"}", "1:8: invalid escape '\\q' in a string; valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"),
    ])
    func syntaxErrors(_ text: String, _ expected: String) {
        do {
            _ = try JSONParser.parse(text)
            Issue.record("parsed invalid JSON")
        } catch {
            #expect("\(error.location): \(error.message)" == expected)
        }
    }

    @Test("Deep nesting is refused, not a stack overflow")
    func depth() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text) }
    }
}
