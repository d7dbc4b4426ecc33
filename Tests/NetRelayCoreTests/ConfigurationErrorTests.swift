import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// A configuration that must be refused, and every line check-config must print for it.
struct BadConfig: Sendable, CustomTestStringConvertible {
    var json: String
    var expected: [String]
    init(_ json: String, _ expected: [String]) {
        self.json = json
        self.expected = expected
    }
    var testDescription: String { String(json.prefix(90)) }
}

/// The exact message an operator sees for each mistake: file:line:column, the JSON path, what
/// is wrong and what to write instead. These messages are part of the product.
let badConfigs: [BadConfig] = [
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"maxConnection\": 2}]}",
                  [#"test.json:1:81: listeners[0].maxConnection: unknown key "maxConnection" in a tcp-echo listener; did you mean "maxConnections"?"#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-ehco\", \"listen\": \"127.0.0.1:2000\"}]}",
                  [#"test.json:1:41: listeners[0].kind: "tcp-ehco" is not one of "tcp-echo", "udp-responder", "broadcast-rebroadcaster", "multicast-announcer"; did you mean "tcp-echo"?"#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"listen\": \"127.0.0.1:2000\"}]}",
                  [#"test.json:1:16: listeners[0]: missing required key "kind": one of "tcp-echo", "udp-responder", "broadcast-rebroadcaster", "multicast-announcer", e.g. "kind": "tcp-echo""#]),
        BadConfig("{\"listeners\": [{\"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}]}",
                  [#"test.json:1:16: listeners[0]: missing required key "name": a name of 1-64 letters, digits, '-', '_' or '.', e.g. "name": "echo""#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\"}]}",
                  [#"test.json:1:16: listeners[0]: missing required key "listen": an address and port such as "127.0.0.1:2000" or "[::1]:2000", e.g. "listen": "127.0.0.1:2000""#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"localhost:2000\"}]}",
                  [#"test.json:1:63: listeners[0].listen: "localhost" is a host name; netrelayd binds IP addresses only (no DNS at start-up); use "127.0.0.1" or "[::1]""#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1\"}]}",
                  [#"test.json:1:63: listeners[0].listen: "127.0.0.1" has no port; expected an address and port such as "127.0.0.1:2000" or "[::1]:2000""#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:65536\"}]}",
                  [#"test.json:1:63: listeners[0].listen: "65536" in "127.0.0.1:65536" is not a port; ports are 0-65535"#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"::1:2000\"}]}",
                  [#"test.json:1:63: listeners[0].listen: "::1:2000" is an IPv6 address without brackets; write "[::1]:2000""#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"maxConnections\": 0}]}",
                  [#"test.json:1:99: listeners[0].maxConnections: 0 is out of range; expected an integer from 1 to 1000000 connections"#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"maxConnections\": \"2\"}]}",
                  [#"test.json:1:99: listeners[0].maxConnections: expected an integer from 1 to 1000000 connections as a number without quotes, got the string "2""#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"allowHalfOpen\": \"true\"}]}",
                  [#"test.json:1:98: listeners[0].allowHalfOpen: expected true or false without quotes, got the string "true""#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"idleTimeout\": \"30s\"}]}",
                  [#"test.json:1:96: listeners[0].idleTimeout: expected a number of seconds from 0 to 604800 (0 never closes idle connections), got the string "30s"; write durations as a number of seconds, e.g. 0.5 or 30"#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"allow\": \"10.0.0.0/8\"}]}",
                  [#"test.json:1:90: listeners[0].allow: expected a list; write ["10.0.0.0/8"]"#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"deny\": [\"10.0.0.0/33\"]}]}",
                  [#"test.json:1:89: listeners[0].deny: item 0, the string "10.0.0.0/33", is not an address block; write an address ("192.0.2.7") or address/prefix ("10.0.0.0/8", "2001:db8::/32"; IPv4 prefixes go up to /32, IPv6 up to /128)"#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"writeBufferHighWaterMark\": 4096, \"writeBufferLowWaterMark\": 8192}]}",
                  [#"test.json:1:142: listeners[0].writeBufferLowWaterMark: writeBufferLowWaterMark (8192) must be below writeBufferHighWaterMark (4096); reading resumes when the queue falls under the low mark"#]),
        BadConfig("{\"listeners\": [{\"name\": \"a\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}, {\"name\": \"a\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2001\"}]}",
                  [#"test.json:1:88: listeners[1].name: the name "a" is already used by listeners[0]; listener names must be unique"#]),
        BadConfig("{\"listeners\": [{\"name\": \"a\", \"kind\": \"tcp-echo\", \"listen\": \"0.0.0.0:2000\"}, {\"name\": \"b\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}]}",
                  [#"test.json:1:121: listeners[1].listen: 127.0.0.1:2000/tcp is already claimed by listeners[0] ("a" on 0.0.0.0:2000); use another port, or set "reusePort": true on both (tcp-echo and udp-responder only)"#]),
        BadConfig("{\"listeners\": [{\"name\": \"my echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}]}",
                  [#"test.json:1:25: listeners[0].name: "my echo" is not a valid name; use 1-64 letters, digits, '-', '_' or '.' (it appears in logs and is the FileDescriptorName= for socket activation)"#]),
        BadConfig("{\"listeners\": [{\"name\": \"u\", \"kind\": \"udp-responder\", \"listen\": \"127.0.0.1:2001\", \"maxDatagramSize\": 70000}]}",
                  [#"test.json:1:102: listeners[0].maxDatagramSize: 70000 is out of range; expected an integer from 1 to 65507 bytes"#]),
        BadConfig("{\"listeners\": [{\"name\": \"u\", \"kind\": \"udp-responder\", \"listen\": \"127.0.0.1:2001\", \"replyPrefix\": \"xxxxxxxxxx\", \"maxDatagramSize\": 65507}]}",
                  [#"test.json:1:131: listeners[0].maxDatagramSize: replyPrefix (10 bytes) plus maxDatagramSize (65507) is 65517 bytes, more than fits in one UDP datagram (65507); lower maxDatagramSize to at most 65497"#]),
        BadConfig("{\"listeners\": [{\"name\": \"u\", \"kind\": \"udp-responder\", \"listen\": \"127.0.0.1:2001\", \"rateLimit\": -1}]}",
                  [#"test.json:1:96: listeners[0].rateLimit: -1 is out of range; expected a number of replies per second per source, from 0 to 10000000 (0: no limit)"#]),
        BadConfig("{\"listeners\": [{\"name\": \"b\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"127.0.0.1:2003\"}]}",
                  [#"test.json:1:16: listeners[0]: missing the broadcast target: set "target": "192.168.56.255:2002", or "targetInterface": "eth0" with "targetPort": 2002"#]),
        BadConfig("{\"listeners\": [{\"name\": \"b\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"127.0.0.1:2002\", \"target\": \"127.255.255.255:2002\"}]}",
                  [#"test.json:1:103: listeners[0].target: broadcasting to port 2002 while listening on port 2002 would loop: the rebroadcaster hears its own broadcast and adds the prefix again, forever; send to another port, or set "allowLoop": true to rely on the own-packet guard (datagrams from our own address and port are dropped)"#]),
        BadConfig("{\"listeners\": [{\"name\": \"b\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"127.0.0.1:2003\", \"target\": \"[::1]:2002\"}]}",
                  [#"test.json:1:103: listeners[0].target: "[::1]:2002" is IPv6; IPv6 has no broadcast, expected an IPv4 address and port such as "192.0.2.255:2002""#]),
        BadConfig("{\"listeners\": [{\"name\": \"b\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"127.0.0.1:2003\", \"target\": \"127.255.255.255:2002\", \"targetInterface\": \"lo\"}]}",
                  [#"test.json:1:146: listeners[0].targetInterface: give either "target" (an address:port) or "targetInterface" with "targetPort", not both"#]),
        BadConfig("{\"listeners\": [{\"name\": \"b\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"127.0.0.1:2003\", \"targetInterface\": \"eth0\"}]}",
                  [#"test.json:1:16: listeners[0]: missing required key "targetPort": the port to broadcast to on eth0, e.g. "targetPort": 2002"#]),
        BadConfig("{\"listeners\": [{\"name\": \"m\", \"kind\": \"multicast-announcer\", \"group\": \"10.1.2.3\", \"port\": 8088}]}",
                  [#"test.json:1:70: listeners[0].group: 10.1.2.3 is not a multicast address; expected an IPv4 address in 224.0.0.0/4 (e.g. "239.255.0.1") or an IPv6 address in ff00::/8"#]),
        BadConfig("{\"listeners\": [{\"name\": \"m\", \"kind\": \"multicast-announcer\", \"group\": \"239.1.2.3\", \"port\": 8088, \"interval\": 0.001}]}",
                  [#"test.json:1:109: listeners[0].interval: 0.001 is out of range; expected a number of seconds from 0.01 to 86400"#]),
        BadConfig("{\"listeners\": [{\"name\": \"m\", \"kind\": \"multicast-announcer\", \"group\": \"239.1.2.3\", \"port\": 8088, \"format\": \"rfc3339\"}]}",
                  [#"test.json:1:107: listeners[0].format: "rfc3339" is not one of "locale", "iso8601", "epoch", "json""#]),
        BadConfig("{\"listeners\": [{\"name\": \"m\", \"kind\": \"multicast-announcer\", \"group\": \"239.1.2.3\", \"port\": 8088, \"interface\": \"::1\"}]}",
                  [#"test.json:1:110: listeners[0].interface: the interface address ::1 is IPv6 but the group 239.1.2.3 is not; use an address of the same family or the interface name"#]),
        BadConfig("{\"listeners\": [{\"name\": \"m\", \"kind\": \"multicast-announcer\", \"group\": \"239.1.2.3\"}]}",
                  [#"test.json:1:16: listeners[0]: missing required key "port": an integer from 1 to 65535, e.g. "port": 8088"#]),
        BadConfig("{\"listeners\": [{\"name\": \"m\", \"kind\": \"multicast-announcer\", \"group\": \"239.1.2.3\", \"port\": 8088, \"listen\": \"127.0.0.1:8088\"}]}",
                  [#"test.json:1:97: listeners[0].listen: unknown key "listen" in a multicast-announcer listener; "listen" is a setting of tcp-echo, udp-responder and broadcast-rebroadcaster listeners"#]),
        BadConfig("{\"listeners\": [{\"name\": \"e\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"group\": \"239.1.2.3\"}]}",
                  [#"test.json:1:78: listeners[0].group: unknown key "group" in a tcp-echo listener; "group" is a setting of multicast-announcer listeners"#]),
        BadConfig("{\"listeners\": []}",
                  [#"test.json:1:15: listeners: the list is empty; add at least one listener (kinds: tcp-echo, udp-responder, broadcast-rebroadcaster, multicast-announcer)"#]),
        BadConfig("{\"listener\": []}",
                  [#"test.json:1:1: missing required key "listeners": a list of listeners, e.g. "listeners": [{"name": "echo", "kind": "tcp-echo", "listen": "127.0.0.1:2000"}]"#, #"test.json:1:2: listener: unknown key "listener" in the top level; did you mean "listeners"?"#]),
        BadConfig("{\"eventLoopThreads\": 0, \"listeners\": [{\"name\": \"e\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}]}",
                  [#"test.json:1:22: eventLoopThreads: 0 is out of range; expected an integer from 1 to 64 threads"#]),
        BadConfig("{\"shutdownTimeout\": -1, \"listeners\": [{\"name\": \"e\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}]}",
                  [#"test.json:1:21: shutdownTimeout: -1 is out of range; expected a number of seconds from 0 to 3600"#]),
        BadConfig("{\"logLevel\": \"verbose\", \"listeners\": [{\"name\": \"e\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}]}",
                  [#"test.json:1:14: logLevel: "verbose" is not one of "trace", "debug", "info", "notice", "warning", "error", "critical""#]),
        BadConfig("[\"tcp-echo\"]",
                  [#"test.json:1:1: expected the configuration (a JSON object {...}), got an array"#]),
        BadConfig("{\"listeners\": [{\"name\": \"e\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\",}]}",
                  [#"test.json:1:77: invalid JSON: trailing comma before '}' is not allowed in JSON; remove the last ','"#]),
        BadConfig("{\"listeners\": [{\"name\": \"e\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"} {\"name\": \"f\"}]}",
                  [#"test.json:1:78: invalid JSON: expected ',' or ']' after an array element, found '{'; a comma may be missing"#]),
        BadConfig("{\"listeners\": [{'name': 'e'}]}",
                  [#"test.json:1:17: invalid JSON: keys and strings must use double quotes ("..."), not single quotes"#]),
        BadConfig("{\"listeners\": [{\"name\": \"e\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"replyPrefix\": null}]}",
                  [#"test.json:1:93: listeners[0].replyPrefix: null is not allowed; expected a string of at most 4096 bytes (remove the key to use the default)"#]),
        BadConfig("{\"listeners\": [{\"name\": \"e\", \"name\": \"f\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}]}",
                  [#"test.json:1:30: invalid JSON: duplicate key "name" (first at line 1, column 17); remove one of them"#]),
        BadConfig("{\"listeners\": [{\"name\": \"e\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}]} // comment",
                  [#"test.json:1:80: invalid JSON: comments are not allowed in JSON; remove the comment"#]),
        BadConfig("{\"listeners\": [{\"name\": \"e\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"backlog\": 1.5}]}",
                  [#"test.json:1:89: listeners[0].backlog: expected an integer from 1 to 65535, got 1.5 (not a whole number)"#]),
        BadConfig("{\"listeners\": [{\"name\": \"e\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\", \"allow\": [\"::1\"]}]}",
                  [#"test.json:1:87: listeners[0].allow: no block in the list is IPv4 like 127.0.0.1:2000; every connection would be refused"#]),
        BadConfig("",
                  [#"test.json:1:1: invalid JSON: the file is empty; expected a JSON object such as {"listeners": [...]}"#]),
        BadConfig("{\"listeners\": [\n  {\"name\": \"e\",\n   \"kind\": \"tcp-echo\",\n   \"listen\": \"127.0.0.1:2000\"\n",
                  [#"test.json:5:1: invalid JSON: unexpected end of file inside an object; expected ',' or '}'"#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"not-an-address\"}]}",
                  [#"test.json:1:63: listeners[0].listen: "not-an-address" is not an address and port; expected an address and port such as "127.0.0.1:2000" or "[::1]:2000""#]),
        BadConfig("{\"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"[::1]\"}]}",
                  [#"test.json:1:63: listeners[0].listen: "[::1]" has no port; expected an address and port such as "127.0.0.1:2000" or "[::1]:2000""#]),
]

@Suite("Configuration errors")
struct ConfigurationErrorTests {
    @Test("Each bad configuration yields exactly its messages", arguments: badConfigs)
    func rejects(_ config: BadConfig) {
        switch ConfigurationDecoder.decode(config.json, file: "test.json") {
        case .success:
            Issue.record("accepted a bad configuration")
        case .failure(let error):
            #expect(error.issues.map(\.description) == config.expected)
        }
    }

    @Test("At least 25 distinct mistakes are covered")
    func tableIsBigEnough() {
        #expect(badConfigs.count >= 25)
        #expect(Set(badConfigs.flatMap(\.expected)).count >= 25)
    }

    @Test("All errors are reported at once, in file order")
    func allErrorsAtOnce() throws {
        let json = """
            {
              "eventLoopThread": 2,
              "listeners": [
                {"name": "echo", "kind": "tcp-echo", "listen": "localhost:2000", "maxConnection": 2},
                {"name": "echo", "kind": "udp-responder", "listen": "127.0.0.1:99999"},
                {"name": "m", "kind": "multicast-announcer", "group": "10.0.0.1", "port": 8088, "ttl": 300}
              ]
            }
            """
        guard case .failure(let error) = ConfigurationDecoder.decode(json, file: "c.json") else {
            Issue.record("accepted")
            return
        }
        #expect(error.issues.map(\.description) == [
            #"c.json:2:3: eventLoopThread: unknown key "eventLoopThread" in the top level; did you mean "eventLoopThreads"?"#,
            #"c.json:4:52: listeners[0].listen: "localhost" is a host name; netrelayd binds IP addresses only (no DNS at start-up); use "127.0.0.1" or "[::1]""#,
            #"c.json:4:70: listeners[0].maxConnection: unknown key "maxConnection" in a tcp-echo listener; did you mean "maxConnections"?"#,
            #"c.json:5:14: listeners[1].name: the name "echo" is already used by listeners[0]; listener names must be unique"#,
            #"c.json:5:57: listeners[1].listen: "99999" in "127.0.0.1:99999" is not a port; ports are 0-65535"#,
            #"c.json:6:59: listeners[2].group: 10.0.0.1 is not a multicast address; expected an IPv4 address in 224.0.0.0/4 (e.g. "239.255.0.1") or an IPv6 address in ff00::/8"#,
            #"c.json:6:92: listeners[2].ttl: 300 is out of range; expected an integer from 0 to 255 hops"#,
        ])
        #expect(error.summary.hasSuffix("(and 6 more)"))
    }
}
