/// Decodes and validates a configuration document, reporting every problem at once.
///
/// Codable stops at the first error and cannot say where a value was in the file, so the
/// document is walked by hand with `ObjectReader`, which also turns every key nobody asked
/// for into an "unknown key" error.
public enum ConfigurationDecoder {
    /// The largest UDP payload over IPv4 (65535 - 8 byte UDP header - 20 byte IP header).
    public static let maxUDPPayload = 65507

    /// Decodes with the given table of kinds (`ListenerKinds.standard` through `decode(_:file:)`).
    package static func decode(_ bytes: [UInt8], file: String, kinds: [any ListenerKindSchema]) -> Result<Configuration, ConfigurationError> {
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            return .failure(ConfigurationError(issues: [
                ConfigurationIssue(file: file, location: error.location, path: "", message: "invalid JSON: \(error.message)")
            ]))
        }
        let collector = IssueCollector(file: file)
        let config = decodeRoot(root, collector, KindIndex(kinds))
        if collector.count == 0, let config { return .success(config) }
        return .failure(ConfigurationError(issues: collector.issues, total: collector.count))
    }

    private static func decodeRoot(_ root: JSONNode, _ c: IssueCollector, _ kinds: KindIndex) -> Configuration? {
        guard let r = ObjectReader(root, path: "", what: "the configuration", collector: c) else { return nil }
        var config = Configuration()
        // The defaults are the struct's (`Configuration()`), stated there once.
        r.read("eventLoopThreads", .integer(1...64, unit: "threads"), into: &config.eventLoopThreads)
        r.read("shutdownTimeout", .seconds(0...3600), into: &config.shutdownTimeout)
        r.read("statusInterval", .seconds(0.1...3600), into: &config.statusInterval)
        r.read("memoryBudget", .integer((1 << 20)...(1 << 40), unit: "bytes"), into: &config.memoryBudget)
        if let level = r.optional("logLevel", .oneOf(LogLevelSetting.allCases.map(\.rawValue))) {
            config.logLevel = LogLevelSetting(rawValue: level) ?? config.logLevel
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
                    c.report(node.location, "listeners", "the list is empty; add at least one listener (kinds: \(kinds.names.joined(separator: ", ")))")
                }
                listenerNodes = items.enumerated().map { ($0.element, "listeners[\($0.offset)]") }
            } else {
                c.report(node.location, "listeners", "expected a list of listeners [...], got \(node.kindDescription)")
            }
        }
        // "$schema" names the JSON Schema for editors and CI (config/netrelayd.schema.json): accepted, ignored.
        r.ignore("$schema")
        r.rejectUnknownKeys(context: "the top level", elsewhere: kinds.topLevelOwners)

        var decoded: [(spec: ListenerSpec, path: String, node: JSONNode)] = []
        for (node, path) in listenerNodes {
            if let spec = decodeListener(node, path: path, c, kinds) { decoded.append((spec, path, node)) }
        }
        config.listeners = decoded.map(\.spec)
        config.sources.listeners = decoded.map { ListenerSource($0.node) }
        checkNames(listenerNodes, c)
        checkBindConflicts(decoded, c, reusePortKinds: kinds.keyOwners["reusePort"] ?? "none")
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

    private static func decodeListener(_ node: JSONNode, path: String, _ c: IssueCollector, _ kinds: KindIndex) -> ListenerSpec? {
        guard let r = ObjectReader(node, path: path, what: "a listener", collector: c) else { return nil }
        let name = r.required("name", .name, example: "\"echo\"")
        guard let word = r.required("kind", .oneOf(kinds.names), example: "\"tcp-echo\""), let kind = kinds.byName[word] else {
            // Without a kind we cannot tell which keys are valid; report only what we could read.
            return nil
        }
        let kindSpec = kind.decodeSpec(r)
        r.rejectUnknownKeys(context: "a \(word) listener", elsewhere: kinds.keyOwners)
        guard let name, let kindSpec else { return nil }
        return ListenerSpec(name: name, kindSpec: kindSpec)
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

    private static func listenLocation(_ node: JSONNode) -> SourceLocation {
        if case .object(let members) = node.value, let m = members.first(where: { $0.key == "listen" }) { return m.value.location }
        return node.location
    }

    /// Two listeners may not claim the same port and protocol on overlapping addresses unless
    /// both opt into SO_REUSEPORT.
    ///
    /// Each listener is checked against what came before it through `BindClaims` (dictionaries by
    /// port), not against every earlier listener: a pairwise check was quadratic in listeners.
    private static func checkBindConflicts(_ listeners: [(spec: ListenerSpec, path: String, node: JSONNode)], _ c: IssueCollector, reusePortKinds: String) {
        var claims = BindClaims()
        for (i, a) in listeners.enumerated() {
            guard let ea = a.spec.boundEndpoint, ea.port != 0 else { continue }
            defer { claims.add(i, ea, tcp: a.spec.usesTCP, reusePort: a.spec.reusePort) }
            if let j = claims.firstConflict(ea, tcp: a.spec.usesTCP, reusePort: a.spec.reusePort) {
                let b = listeners[j]
                let eb = b.spec.boundEndpoint!
                let proto = a.spec.usesTCP ? "tcp" : "udp"
                c.report(listenLocation(a.node), "\(a.path).listen",
                         "\(ea)/\(proto) is already claimed by \(b.path) (\"\(b.spec.name)\" on \(eb)); use another port, or set \"reusePort\": true on both (\(reusePortKinds) only)")
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

    /// Whether binding both addresses on one port would clash (a wildcard covers its family,
    /// and "::" also covers IPv4 on a dual-stack host).
    static func overlaps(_ a: IPAddress, _ b: IPAddress) -> Bool {
        if a == b { return true }
        if a.isUnspecified && (!a.isIPv4 || b.isIPv4) { return true }
        if b.isUnspecified && (!b.isIPv4 || a.isIPv4) { return true }
        return false
    }
}
