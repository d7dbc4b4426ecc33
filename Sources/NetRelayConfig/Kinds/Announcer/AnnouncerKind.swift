/// The `multicast-announcer` kind as the configuration sees it: its keys and their decoding. How it
/// runs is in Sources/NetRelayCore/Listeners/Announcer/AnnouncerKind+Running.swift.
package struct AnnouncerKind: ListenerKindSchema {
    package func decode(_ r: ObjectReader) -> AnnouncerSpec? {
        let c = r.collector
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
        var s = AnnouncerSpec(group: group ?? .v4(0), port: port ?? 0)
        r.read("interval", .seconds(0.01...86400), into: &s.interval)
        r.read("ttl", .integer(0...255, unit: "hops"), into: &s.ttl)
        r.read("loopback", .bool, into: &s.loopback)
        s.interface = r.optional("interface", FieldType<String>(expected: "an interface name or address") { node in
            guard case .string(let str) = node.value else {
                return .failure(FieldProblem("expected an interface name (\"eth0\") or one of its addresses, got \(node.kindDescription)"))
            }
            if IPAddress(str) != nil { return .success(str) }
            if str.contains(where: { $0 == ":" || $0 == "." }) && str.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) {
                return .failure(FieldProblem("\(JSONNode.excerpt(str)) is neither an interface name nor a valid IP address"))
            }
            return ConfigurationDecoder.interfaceName.convert(node)
        })
        if let group, let iface = s.interface, let addr = IPAddress(iface), addr.isIPv4 != group.isIPv4 {
            c.report(r.raw("interface")?.location, r.childPath("interface"),
                     "the interface address \(addr) is \(addr.isIPv4 ? "IPv4" : "IPv6") but the group \(group) is not; use an address of the same family or the interface name")
        }
        r.read("joinGroup", .bool, into: &s.joinGroup)
        if let f = r.optional("format", .oneOf(AnnouncerSpec.Format.allCases.map(\.rawValue))) {
            s.format = AnnouncerSpec.Format(rawValue: f) ?? s.format
        }
        guard group != nil, port != nil else { return nil }
        return s
    }

    package init() {}
}
