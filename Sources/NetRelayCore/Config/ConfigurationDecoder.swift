/// Decodes and validates a configuration document, reporting every problem at once.
///
/// Codable stops at the first error and cannot say where a value was in the file, so the
/// document is walked by hand with `ObjectReader`, which also turns every key nobody asked
/// for into an "unknown key" error.
public enum ConfigurationDecoder {
    /// The largest UDP payload over IPv4 (65535 - 8 byte UDP header - 20 byte IP header).
    public static let maxUDPPayload = 65507

    public static func decode(_ bytes: [UInt8], file: String) -> Result<Configuration, ConfigurationError> {
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            return .failure(ConfigurationError(issues: [
                ConfigurationIssue(file: file, location: error.location, path: "", message: "invalid JSON: \(error.message)")
            ]))
        }
        let collector = IssueCollector(file: file)
        let config = decodeRoot(root, collector)
        if collector.issues.isEmpty, let config { return .success(config) }
        // In file order, as a compiler reports them (cross-listener checks run last).
        let ordered = collector.issues.enumerated().sorted { a, b in
            let la = a.element.location ?? SourceLocation(line: 0, column: 0)
            let lb = b.element.location ?? SourceLocation(line: 0, column: 0)
            return (la.line, la.column, a.offset) < (lb.line, lb.column, b.offset)
        }.map(\.element)
        return .failure(ConfigurationError(issues: ordered))
    }

    public static func decode(_ text: String, file: String) -> Result<Configuration, ConfigurationError> {
        decode(Array(text.utf8), file: file)
    }

    // Keys that only some kinds have, to tell "this belongs to another kind" from a typo.
    private static let keysByKind: [String: String] = {
        var map: [String: String] = [:]
        let keys: [(String, [String])] = [
            (ListenerKindName.tcpEcho, ["maxConnections", "maxConnectionsPerSource", "allowHalfOpen", "idleTimeout", "allow", "deny", "backlog", "writeBufferHighWaterMark", "writeBufferLowWaterMark", "sendBufferSize", "receiveBufferSize"]),
            (ListenerKindName.udpResponder, ["rateLimitMaxSources", "rejectBadSources", "vectorReadCount"]),
            (ListenerKindName.broadcastRebroadcaster, ["target", "targetInterface", "targetPort", "prefix", "sourceAllow", "allowLoop", "targets", "listenInterfaces"]),
            (ListenerKindName.multicastAnnouncer, ["group", "port", "interval", "ttl", "loopback", "interface", "joinGroup", "format"]),
        ]
        for (kind, ks) in keys { for k in ks { map[k] = kind } }
        return map
    }()

    // Built once: copying the dictionary for every listener showed in the profile of a large file.
    private static let listenerKeysElsewhere = keysByKind.merging(["listen": "tcp-echo, udp-responder and broadcast-rebroadcaster"]) { _, b in b }

    private static func decodeRoot(_ root: JSONNode, _ c: IssueCollector) -> Configuration? {
        guard let r = ObjectReader(root, path: "", what: "the configuration", collector: c) else { return nil }
        var config = Configuration()
        config.eventLoopThreads = r.value("eventLoopThreads", .integer(1...64, unit: "threads"), default: 1)
        config.shutdownTimeout = r.value("shutdownTimeout", .seconds(0...3600), default: 10)
        config.statusInterval = r.value("statusInterval", .seconds(0.1...3600), default: 2)
        config.memoryBudget = r.value("memoryBudget", .integer((1 << 20)...(1 << 40), unit: "bytes"), default: Configuration.defaultMemoryBudget)
        if let level = r.optional("logLevel", .oneOf(LogLevelSetting.allCases.map(\.rawValue))) {
            config.logLevel = LogLevelSetting(rawValue: level) ?? .info
        }
        let http = decodeHTTP(r, c)
        config.http = http?.spec
        var listenerNodes: [(JSONNode, String)] = []
        if !r.has("listeners") {
            _ = r.raw("listeners")
            c.report(root.location, "", "missing required key \"listeners\": a list of listeners, e.g. \"listeners\": [{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}]")
        } else if let node = r.raw("listeners") {
            if case .array(let items) = node.value {
                if items.isEmpty {
                    c.report(node.location, "listeners", "the list is empty; add at least one listener (kinds: \(ListenerKindName.all.joined(separator: ", ")))")
                }
                listenerNodes = items.enumerated().map { ($0.element, "listeners[\($0.offset)]") }
            } else {
                c.report(node.location, "listeners", "expected a list of listeners [...], got \(node.kindDescription)")
            }
        }
        // "$schema" names the JSON Schema for editors and CI (config/netrelayd.schema.json): accepted, ignored.
        r.ignore("$schema")
        r.rejectUnknownKeys(context: "the top level", elsewhere: keysByKind.merging(["name": "every", "kind": "every", "listen": "tcp-echo, udp-responder and broadcast-rebroadcaster"]) { a, _ in a })

        var decoded: [(spec: ListenerSpec, path: String, node: JSONNode)] = []
        for (node, path) in listenerNodes {
            if let spec = decodeListener(node, path: path, c) { decoded.append((spec, path, node)) }
        }
        config.listeners = decoded.map(\.spec)
        checkNames(listenerNodes, c)
        checkBindConflicts(decoded, c)
        checkLoops(decoded, c)
        if let http { checkHTTPBindConflict(http, decoded, c) }
        return config
    }

    /// The optional `"http"` object; returns the spec and the location of its `listen` value.
    private static func decodeHTTP(_ root: ObjectReader, _ c: IssueCollector) -> (spec: HTTPEndpointSpec, location: SourceLocation)? {
        guard let node = root.raw("http") else { return nil }
        guard let r = ObjectReader(node, path: "http", what: "the HTTP endpoint, e.g. {\"listen\": \"127.0.0.1:9477\"}", collector: c) else { return nil }
        let listen = r.required("listen", .endpoint(), example: "\"127.0.0.1:9477\"")
        r.rejectUnknownKeys(context: "\"http\"")
        guard let listen else { return nil }
        return (HTTPEndpointSpec(listen: listen), r.raw("listen")?.location ?? node.location)
    }

    /// The HTTP endpoint is TCP: it may not share a port with a tcp-echo listener.
    private static func checkHTTPBindConflict(_ http: (spec: HTTPEndpointSpec, location: SourceLocation), _ listeners: [(spec: ListenerSpec, path: String, node: JSONNode)], _ c: IssueCollector) {
        let e = http.spec.listen
        guard e.port != 0 else { return }
        for l in listeners {
            guard l.spec.usesTCP, let el = l.spec.boundEndpoint, el.port == e.port, overlaps(e.address, el.address) else { continue }
            c.report(http.location, "http.listen",
                     "\(e)/tcp is already claimed by \(l.path) (\"\(l.spec.name)\" on \(el)); give the HTTP endpoint another port")
            return
        }
    }

    private static func decodeListener(_ node: JSONNode, path: String, _ c: IssueCollector) -> ListenerSpec? {
        guard let r = ObjectReader(node, path: path, what: "a listener", collector: c) else { return nil }
        let name = r.required("name", .name, example: "\"echo\"")
        guard let kind = r.required("kind", .oneOf(ListenerKindName.all), example: "\"tcp-echo\"") else {
            // Without a kind we cannot tell which keys are valid; report only what we could read.
            return nil
        }
        let context = "a \(kind) listener"
        let decodedKind: ListenerSpec.Kind?
        switch kind {
        case ListenerKindName.tcpEcho: decodedKind = decodeTCPEcho(r, c).map { .tcpEcho($0) }
        case ListenerKindName.udpResponder: decodedKind = decodeUDPResponder(r, c).map { .udpResponder($0) }
        case ListenerKindName.broadcastRebroadcaster: decodedKind = decodeBroadcast(r, c).map { .broadcastRebroadcaster($0) }
        default: decodedKind = decodeMulticast(r, c).map { .multicastAnnouncer($0) }
        }
        r.rejectUnknownKeys(context: context, elsewhere: listenerKeysElsewhere)
        guard let name, let decodedKind else { return nil }
        return ListenerSpec(name: name, kind: decodedKind)
    }

    private static let prefixType = FieldType<String>(expected: "a string of at most 4096 bytes") { node in
        guard case .string(let s) = node.value else {
            return .failure(FieldProblem("expected a string, got \(node.kindDescription)"))
        }
        guard s.utf8.count <= 4096 else { return .failure(FieldProblem("the prefix is \(s.utf8.count) bytes; at most 4096 are allowed")) }
        return .success(s)
    }

    private static func decodeTCPEcho(_ r: ObjectReader, _ c: IssueCollector) -> TCPEchoSpec? {
        let listen = r.required("listen", .endpoint(), example: "\"127.0.0.1:2000\"")
        var s = TCPEchoSpec(listen: listen ?? Endpoint(address: .v4(0), port: 0))
        s.replyPrefix = r.value("replyPrefix", prefixType, default: "")
        s.maxConnections = r.value("maxConnections", .integer(1...1_000_000, unit: "connections"), default: 1024)
        s.maxConnectionsPerSource = r.value("maxConnectionsPerSource", .integer(0...1_000_000, unit: "connections (0: no limit)"), default: 0)
        s.allowHalfOpen = r.value("allowHalfOpen", .bool, default: false)
        s.idleTimeout = r.value("idleTimeout", .seconds(0...604_800, zeroMeans: "never closes idle connections"), default: 300)
        s.allow = r.value("allow", .cidrList, default: [])
        s.deny = r.value("deny", .cidrList, default: [])
        s.reusePort = r.value("reusePort", .bool, default: false)
        s.backlog = r.value("backlog", .integer(1...65535), default: 256)
        let high = r.optional("writeBufferHighWaterMark", .integer(1024...(64 << 20), unit: "bytes"))
        let low = r.optional("writeBufferLowWaterMark", .integer(0...(64 << 20), unit: "bytes"))
        s.writeBufferHighWaterMark = high ?? 64 * 1024
        s.writeBufferLowWaterMark = low ?? min(32 * 1024, s.writeBufferHighWaterMark / 2)
        if s.writeBufferLowWaterMark >= s.writeBufferHighWaterMark {
            let node = r.raw("writeBufferLowWaterMark") ?? r.raw("writeBufferHighWaterMark")
            c.report(node?.location, r.childPath(low != nil ? "writeBufferLowWaterMark" : "writeBufferHighWaterMark"),
                     "writeBufferLowWaterMark (\(s.writeBufferLowWaterMark)) must be below writeBufferHighWaterMark (\(s.writeBufferHighWaterMark)); reading resumes when the queue falls under the low mark")
        }
        s.sendBufferSize = r.optional("sendBufferSize", .integer(4096...(256 << 20), unit: "bytes"))
        s.receiveBufferSize = r.optional("receiveBufferSize", .integer(4096...(256 << 20), unit: "bytes"))
        if !s.allow.isEmpty, let listen, !s.allow.contains(where: { $0.network.isIPv4 == listen.address.isIPv4 }), !listen.address.isUnspecified {
            c.report(r.raw("allow")?.location, r.childPath("allow"),
                     "no block in the list is \(listen.address.isIPv4 ? "IPv4" : "IPv6") like \(listen); every connection would be refused")
        }
        return listen == nil ? nil : s
    }

    private static func decodeUDPResponder(_ r: ObjectReader, _ c: IssueCollector) -> UDPResponderSpec? {
        let listen = r.required("listen", .endpoint(), example: "\"127.0.0.1:2001\"")
        var s = UDPResponderSpec(listen: listen ?? Endpoint(address: .v4(0), port: 0))
        s.replyPrefix = r.value("replyPrefix", prefixType, default: "")
        s.rateLimit = r.value("rateLimit", .seconds(0...10_000_000).renamed("a number of replies per second per source, from 0 to 10000000 (0: no limit)"), default: 100)
        s.rateLimitBurst = r.value("rateLimitBurst", .integer(1...10_000_000, unit: "replies"), default: max(1, Int(s.rateLimit * 2)))
        s.rateLimitMaxSources = r.value("rateLimitMaxSources", .integer(16...10_000_000, unit: "sources"), default: 65536)
        s.maxDatagramSize = r.value("maxDatagramSize", .integer(1...maxUDPPayload, unit: "bytes"), default: 2048)
        s.rejectBadSources = r.value("rejectBadSources", .bool, default: true)
        s.reusePort = r.value("reusePort", .bool, default: false)
        s.vectorReadCount = r.value("vectorReadCount", .integer(1...1024, unit: "datagrams"), default: 32)
        s.replyToEmpty = r.value("replyToEmpty", .bool, default: s.replyToEmpty)
        (s.totalRateLimit, s.totalRateLimitBurst) = decodeTotalRateLimit(r, what: "replies", default: s.totalRateLimit)
        s.relayMark = r.value("relayMark", relayMarkType, default: s.relayMark)
        checkReplyFits(prefix: s.replyPrefix, maxDatagramSize: s.maxDatagramSize, prefixKey: "replyPrefix", r, c)
        return listen == nil ? nil : s
    }

    private static func checkReplyFits(prefix: String, maxDatagramSize: Int, prefixKey: String, _ r: ObjectReader, _ c: IssueCollector) {
        let total = prefix.utf8.count + maxDatagramSize
        if total > maxUDPPayload {
            c.report(r.raw("maxDatagramSize")?.location ?? r.node.location, r.childPath("maxDatagramSize"),
                     "\(prefixKey) (\(prefix.utf8.count) bytes) plus maxDatagramSize (\(maxDatagramSize)) is \(total) bytes, more than fits in one UDP datagram (\(maxUDPPayload)); lower maxDatagramSize to at most \(maxUDPPayload - prefix.utf8.count)")
        }
    }

    private static func decodeBroadcast(_ r: ObjectReader, _ c: IssueCollector) -> BroadcastSpec? {
        let listen = r.required("listen", .endpoint(ipv4Only: true), example: "\"192.168.56.1:2001\"")
        if r.has("targets") { return decodeBroadcastTargets(r, c, listen: listen) }
        _ = r.raw("targets")  // a known key here too (for "did you mean" and the list of known keys)
        let hasTarget = r.has("target"), hasInterface = r.has("targetInterface")
        var target: BroadcastSpec.Target?
        let targetAddress = r.optional("target", .endpoint(ipv4Only: true, allowPortZero: false))
        let targetInterface = r.optional("targetInterface", interfaceName)
        let targetPort = r.optional("targetPort", .integer(1...65535))
        switch (hasTarget, hasInterface) {
        case (true, true):
            c.report(r.raw("targetInterface")?.location, r.childPath("targetInterface"),
                     "give either \"target\" (an address:port) or \"targetInterface\" with \"targetPort\", not both")
        case (false, false):
            c.report(r.node.location, r.path,
                     "missing the broadcast target: set \"target\": \"192.168.56.255:2002\", or \"targetInterface\": \"eth0\" with \"targetPort\": 2002")
        case (true, false):
            if let targetAddress {
                target = .address(targetAddress)
                if targetAddress.address.isMulticast {
                    c.report(r.raw("target")?.location, r.childPath("target"),
                             "\(targetAddress.address) is a multicast group, not a broadcast address; use a multicast-announcer listener for multicast")
                    target = nil
                }
            }
            if r.has("targetPort") {
                c.report(r.raw("targetPort")?.location, r.childPath("targetPort"), "\"targetPort\" goes with \"targetInterface\"; with \"target\", put the port in the address")
            }
        case (false, true):
            if !r.has("targetPort") {
                c.report(r.node.location, r.path, "missing required key \"targetPort\": the port to broadcast to on \(targetInterface ?? "the interface"), e.g. \"targetPort\": 2002")
            }
            if let targetInterface, let targetPort { target = .interface(name: targetInterface, port: targetPort) }
        }
        var s = BroadcastSpec(listen: listen ?? Endpoint(address: .v4(0), port: 0), target: target ?? .address(Endpoint(address: .v4(0), port: 0)))
        decodeBroadcastSettings(&s, r, c)
        if let listen, let target, target.port == listen.port, !s.allowLoop {
            let key = hasTarget ? "target" : "targetPort"
            c.report(r.raw(key)?.location, r.childPath(key),
                     "broadcasting to port \(target.port) while listening on port \(listen.port) would loop: the rebroadcaster hears its own broadcast and adds the prefix again, forever; send to another port, or set \"allowLoop\": true to rely on the own-packet guard (datagrams from our own address and port are dropped)")
        }
        guard listen != nil, target != nil else { return nil }
        return s
    }

    /// The settings every target form shares.
    static func decodeBroadcastSettings(_ s: inout BroadcastSpec, _ r: ObjectReader, _ c: IssueCollector) {
        s.listenInterfaces = r.value("listenInterfaces", listenInterfacesType, default: [])
        s.prefix = r.value("prefix", prefixType, default: "")
        s.sourceAllow = r.value("sourceAllow", .cidrList, default: [])
        s.allowLoop = r.value("allowLoop", .bool, default: false)
        s.maxDatagramSize = r.value("maxDatagramSize", .integer(1...maxUDPPayload, unit: "bytes"), default: 2048)
        s.rateLimit = r.value("rateLimit", .seconds(0...10_000_000).renamed("a number of rebroadcasts per second per source, from 0 to 10000000 (0: no limit)"), default: 100)
        s.rateLimitBurst = r.value("rateLimitBurst", .integer(1...10_000_000, unit: "datagrams"), default: max(1, Int(s.rateLimit * 2)))
        (s.totalRateLimit, s.totalRateLimitBurst) = decodeTotalRateLimit(r, what: "rebroadcasts", default: s.totalRateLimit)
        s.relayMark = r.value("relayMark", relayMarkType, default: s.relayMark)
        checkReplyFits(prefix: s.prefix, maxDatagramSize: s.maxDatagramSize, prefixKey: "prefix", r, c)
    }

    /// `totalRateLimit` and its burst (twice the rate unless given, as for `rateLimit`).
    private static func decodeTotalRateLimit(_ r: ObjectReader, what: String, default rate: Double) -> (Double, Int) {
        let total = r.value("totalRateLimit", .seconds(0...10_000_000).renamed("a number of \(what) per second across all sources, from 0 to 10000000 (0: no limit)"), default: rate)
        let burst = r.value("totalRateLimitBurst", .integer(1...10_000_000, unit: what), default: max(1, Int(total * 2)))
        return (total, burst)
    }

    private static let relayMarkType = FieldType<Int>.integer(0...63).renamed("a DSCP value from 1 to 63 (0: do not mark and do not drop marked datagrams)")

    static let interfaceName = FieldType<String>(expected: "an interface name such as \"eth0\"") { node in
        guard case .string(let s) = node.value else {
            return .failure(FieldProblem("expected an interface name (a string), got \(node.kindDescription)"))
        }
        guard !s.isEmpty, s.utf8.count < 16, !s.contains("/"), !s.contains(where: \.isWhitespace) else {
            return .failure(FieldProblem("\(JSONNode.excerpt(s)) is not a valid interface name (1-15 characters, no '/' or spaces)"))
        }
        return .success(s)
    }

    private static func decodeMulticast(_ r: ObjectReader, _ c: IssueCollector) -> MulticastSpec? {
        let groupType = FieldType<IPAddress>(expected: "a multicast group address such as \"239.255.0.1\" or \"ff02::1:3\"") { node in
            switch FieldType<IPAddress>.ipAddress.convert(node) {
            case .failure(let p): return .failure(p)
            case .success(let a):
                guard a.isMulticast else {
                    return .failure(FieldProblem("\(a) is not a multicast address; expected an IPv4 address in 224.0.0.0/4 (e.g. \"239.255.0.1\") or an IPv6 address in ff00::/8"))
                }
                return .success(a)
            }
        }
        let group = r.required("group", groupType, example: "\"239.255.0.1\"")
        let port = r.required("port", .integer(1...65535), example: "8088")
        var s = MulticastSpec(group: group ?? .v4(0), port: port ?? 0)
        s.interval = r.value("interval", .seconds(0.01...86400), default: 1)
        s.ttl = r.value("ttl", .integer(0...255, unit: "hops"), default: 1)
        s.loopback = r.value("loopback", .bool, default: true)
        s.interface = r.optional("interface", FieldType<String>(expected: "an interface name or address") { node in
            guard case .string(let str) = node.value else {
                return .failure(FieldProblem("expected an interface name (\"eth0\") or one of its addresses, got \(node.kindDescription)"))
            }
            if IPAddress(str) != nil { return .success(str) }
            if str.contains(where: { $0 == ":" || $0 == "." }) && str.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) {
                return .failure(FieldProblem("\(JSONNode.excerpt(str)) is neither an interface name nor a valid IP address"))
            }
            return interfaceName.convert(node)
        })
        if let group, let iface = s.interface, let addr = IPAddress(iface), addr.isIPv4 != group.isIPv4 {
            c.report(r.raw("interface")?.location, r.childPath("interface"),
                     "the interface address \(addr) is \(addr.isIPv4 ? "IPv4" : "IPv6") but the group \(group) is not; use an address of the same family or the interface name")
        }
        s.joinGroup = r.value("joinGroup", .bool, default: false)
        if let f = r.optional("format", .oneOf(MulticastSpec.Format.allCases.map(\.rawValue))) {
            s.format = MulticastSpec.Format(rawValue: f) ?? .iso8601
        }
        guard group != nil, port != nil else { return nil }
        return s
    }

    /// Names must be unique; checked on the raw nodes so a listener with other errors still counts.
    private static func checkNames(_ nodes: [(JSONNode, String)], _ c: IssueCollector) {
        var firstPath: [String: String] = [:]
        for (node, path) in nodes {
            guard case .object(let members) = node.value, let m = members.first(where: { $0.key == "name" }),
                  case .string(let name) = m.value.value else { continue }
            if let first = firstPath[name] {
                c.report(m.value.location, "\(path).name", "the name \(JSONNode.excerpt(name)) is already used by \(first); listener names must be unique")
            } else {
                firstPath[name] = path
            }
        }
    }

    private static func nameLocation(_ node: JSONNode) -> SourceLocation {
        if case .object(let members) = node.value, let m = members.first(where: { $0.key == "name" }) { return m.value.location }
        return node.location
    }

    private static func listenLocation(_ node: JSONNode) -> SourceLocation {
        if case .object(let members) = node.value, let m = members.first(where: { $0.key == "listen" }) { return m.value.location }
        return node.location
    }

    /// Two listeners may not claim the same port and protocol on overlapping addresses unless
    /// both opt into SO_REUSEPORT.
    ///
    /// Each listener is checked against what came before it through `BindClaims` (dictionaries by
    /// port), not against every earlier listener: a pairwise check was quadratic in listeners.
    private static func checkBindConflicts(_ listeners: [(spec: ListenerSpec, path: String, node: JSONNode)], _ c: IssueCollector) {
        var claims = BindClaims()
        for (i, a) in listeners.enumerated() {
            guard let ea = a.spec.boundEndpoint, ea.port != 0 else { continue }
            defer { claims.add(i, ea, tcp: a.spec.usesTCP, reusePort: a.spec.reusePort) }
            if let j = claims.firstConflict(ea, tcp: a.spec.usesTCP, reusePort: a.spec.reusePort) {
                let b = listeners[j]
                let eb = b.spec.boundEndpoint!
                let proto = a.spec.usesTCP ? "tcp" : "udp"
                c.report(listenLocation(a.node), "\(a.path).listen",
                         "\(ea)/\(proto) is already claimed by \(b.path) (\"\(b.spec.name)\" on \(eb)); use another port, or set \"reusePort\": true on both (tcp-echo and udp-responder only)")
            }
        }
    }

    /// The earlier listeners' bound endpoints, indexed so that the first one a new endpoint
    /// clashes with (in the sense of `overlaps`, and not both with SO_REUSEPORT) is found in
    /// constant time.
    struct BindClaims {
        /// The first listener (by index) in one group, and the first without reusePort.
        struct First {
            var any: Int
            var exclusive: Int?
            mutating func add(_ i: Int, reusePort: Bool) {
                if !reusePort && exclusive == nil { exclusive = i }
            }
            func conflict(reusePort: Bool) -> Int? { reusePort ? exclusive : any }
        }
        struct PortClaims {
            var byAddress: [IPAddress: First] = [:]
            var anyIPv4: First?, all: First?
            var ipv4Wildcard: First?, ipv6Wildcard: First?
        }
        struct Key: Hashable { var port: Int; var tcp: Bool }
        private var ports: [Key: PortClaims] = [:]

        mutating func add(_ i: Int, _ e: Endpoint, tcp: Bool, reusePort: Bool) {
            func note(_ f: inout First?) {
                if f == nil { f = First(any: i, exclusive: nil) }
                f!.add(i, reusePort: reusePort)
            }
            var p = ports[Key(port: e.port, tcp: tcp)] ?? PortClaims()
            var at = p.byAddress[e.address]
            note(&at)
            p.byAddress[e.address] = at
            note(&p.all)
            if e.address.isIPv4 { note(&p.anyIPv4) }
            if e.address.isUnspecified { e.address.isIPv4 ? note(&p.ipv4Wildcard) : note(&p.ipv6Wildcard) }
            ports[Key(port: e.port, tcp: tcp)] = p
        }

        /// The earliest claim `e` clashes with, mirroring `overlaps(e.address, earlier)`.
        func firstConflict(_ e: Endpoint, tcp: Bool, reusePort: Bool) -> Int? {
            guard let p = ports[Key(port: e.port, tcp: tcp)] else { return nil }
            var groups: [First?] = [p.byAddress[e.address], p.ipv6Wildcard]
            if e.address.isIPv4 { groups.append(p.ipv4Wildcard) }
            if e.address.isUnspecified { groups.append(e.address.isIPv4 ? p.anyIPv4 : p.all) }
            return groups.compactMap { $0?.conflict(reusePort: reusePort) }.min()
        }
    }

    /// Listeners that feed each other in a cycle (`RelayLoops`): one error per loop, at the target
    /// of its first rebroadcaster, naming every listener in it.
    /// Not optimized: with -O, Swift 6.3.1's CopyPropagation pass crashes on this function
    /// ("Found outside of lifetime use", a begin_borrow of ListenerSpec), which breaks every
    /// release build. It runs once per configuration load.
    @_optimize(none)
    private static func checkLoops(_ listeners: [(spec: ListenerSpec, path: String, node: JSONNode)], _ c: IssueCollector) {
        var nodes: [RelayLoops.Node] = []
        var decodedIndex: [Int] = []
        for (i, l) in listeners.enumerated() {
            switch l.spec.kind {
            case .broadcastRebroadcaster(let b):
                nodes.append(RelayLoops.Node(listen: b.listen, targets: b.targets, allowLoop: b.allowLoop))
            case .udpResponder(let u):
                nodes.append(RelayLoops.Node(listen: u.listen, role: .responder))
            case .tcpEcho, .multicastAnnouncer:
                continue
            }
            decodedIndex.append(i)
        }
        for cycle in RelayLoops.loops(nodes) {
            // Told from the first rebroadcaster on, where the error is reported.
            var members = cycle.map { listeners[decodedIndex[$0]] }
            if let k = members.firstIndex(where: { if case .broadcastRebroadcaster = $0.spec.kind { return true } else { return false } }) {
                members = Array(members[k...] + members[..<k])
            }
            var steps: [String] = []
            for k in members.indices {
                steps.append(loopStep(members[k].spec, next: members[(k + 1) % members.count].spec))
            }
            let rebroadcasters = members.filter { if case .broadcastRebroadcaster = $0.spec.kind { return true } else { return false } }
            guard let first = rebroadcasters.first, case .object(let keys) = first.node.value else { continue }
            let key = keys.first(where: { $0.key == "target" }) ?? keys.first(where: { $0.key == "targetPort" })
            let names = rebroadcasters.map { "\"\($0.spec.name)\"" }
            let optIn = names.count == 1 ? "on \(names[0])" : "on one of \(names.dropLast().joined(separator: ", ")) or \(names.last!)"
            let (location, keyPath) = key.map { ($0.value.location, $0.key) } ?? loopTargetLocation(first.spec, members[1 % members.count].spec, keys)
            c.report(location ?? first.node.location, "\(first.path).\(keyPath)",
                     "these listeners form a loop: \(steps.joined(separator: "; ")); every datagram would go round for ever, one more prefix each pass; point a target at a port no listener in the loop listens on, or set \"allowLoop\": true \(optIn) if the relay mark and the rate limits are to break it")
        }
    }

    /// One step of a loop, as the error message tells it. (A function of its own: inlined in
    /// `checkLoops`, this code crashed the Swift 6.3.1 optimizer, CopyPropagation, in -O -wmo builds.)
    private static func loopStep(_ m: ListenerSpec, next: ListenerSpec) -> String {
        switch m.kind {
        case .broadcastRebroadcaster(let b):
            return "\"\(m.name)\" sends to \(loopTarget(b, next)) and \"\(next.name)\" hears it on \(next.boundEndpoint.map { "\($0)" } ?? "?")"
        default:
            return "\"\(m.name)\" (udp-responder) replies to \"\(next.name)\""
        }
    }

    /// Whether binding both addresses on one port would clash (a wildcard covers its family,
    /// and "::" also covers IPv4 on a dual-stack host).
    static func overlaps(_ a: IPAddress, _ b: IPAddress) -> Bool {
        if a == b { return true }
        if a.isUnspecified && (!a.isIPv4 || b.isIPv4) { return true }
        if b.isUnspecified && (!b.isIPv4 || a.isIPv4) { return true }
        return false
    }
}

extension FieldType {
    /// The same conversion with another description of what is expected.
    func renamed(_ expected: String) -> FieldType<T> {
        FieldType(expected: expected) { node in
            switch self.convert(node) {
            case .success(let v): return .success(v)
            case .failure:
                if case .number(let text) = node.value { return .failure(FieldProblem("\(text) is out of range; expected \(expected)")) }
                return .failure(FieldProblem("expected \(expected), got \(node.kindDescription)"))
            }
        }
    }
}
