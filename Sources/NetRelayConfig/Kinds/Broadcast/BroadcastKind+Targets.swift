/// The list form of a rebroadcaster's targets (`targets`) and `listenInterfaces`.
extension BroadcastKind {
    static let targetsExample = "\"targets\": [\"192.168.56.255:2002\", {\"interface\": \"eth1\", \"port\": 2002}]"

    /// `targets` is present: the one-target keys must not be, every entry is an address:port or
    /// an `{ "interface", "port" }` object, and none is listed twice.
    func decodeTargets(_ r: ObjectReader, listen: Endpoint?) -> BroadcastSpec? {
        let c = r.collector
        for key in ["target", "targetInterface", "targetPort"] where r.has(key) {
            let move: String
            switch key {
            case "target": move = "move its address into the list"
            case "targetInterface": move = "write it in the list as {\"interface\": NAME, \"port\": PORT}"
            default: move = "put the port in the list's {\"interface\": NAME, \"port\": PORT} entry"
            }
            c.report(r.raw(key)?.location, r.childPath(key),
                     "\"\(key)\" conflicts with \"targets\": give every target in \"targets\", or one \"target\" (or \"targetInterface\" with \"targetPort\") without \"targets\"; \(move)")
        }
        let node = r.raw("targets")!
        let path = r.childPath("targets")
        var targets: [BroadcastSpec.Target] = []
        var bad = false
        if case .array(let items) = node.value {
            if items.isEmpty {
                c.report(node.location, path, "the list is empty; give at least one target, e.g. \(Self.targetsExample)")
                bad = true
            }
            for (i, item) in items.enumerated() {
                guard let t = decodeTarget(item, path: "\(path)[\(i)]", c) else { bad = true; continue }
                if let first = targets.firstIndex(of: t) {
                    c.report(item.location, "\(path)[\(i)]", "\(t) is already \(path)[\(first)]; every datagram would go there twice; remove one")
                    bad = true
                    continue
                }
                targets.append(t)
            }
        } else {
            c.report(node.location, path, "expected a list of targets, got \(node.kindDescription); e.g. \(Self.targetsExample)")
            bad = true
        }
        var s = BroadcastSpec(listen: listen ?? Endpoint(address: .v4(0), port: 0), targets: targets.isEmpty ? [.address(Endpoint(address: .v4(0), port: 0))] : targets)
        decodeSharedKeys(&s, r)
        // A relay listens and sends on one port (the discovery protocol's): unlike the one-target
        // form, that needs no allowLoop here. Its own broadcasts come back from its own address
        // and port and are dropped (own-packet guard, and the relay mark in the kernel first).
        guard listen != nil, !bad, !targets.isEmpty else { return nil }
        return s
    }

    /// One entry of `targets`: "address:port" or {"interface": NAME, "port": PORT}.
    private func decodeTarget(_ item: JSONNode, path: String, _ c: IssueCollector) -> BroadcastSpec.Target? {
        switch item.value {
        case .string:
            switch FieldType<Endpoint>.endpoint(ipv4Only: true, allowPortZero: false).convert(item) {
            case .failure(let p):
                c.report(item.location, path, p.message)
                return nil
            case .success(let e):
                if e.address.isMulticast {
                    c.report(item.location, path, "\(e.address) is a multicast group, not a broadcast address; use a multicast-announcer listener for multicast")
                    return nil
                }
                return .address(e)
            }
        case .object:
            guard let o = ObjectReader(item, path: path, what: "a target", collector: c) else { return nil }
            let name = o.required("interface", ConfigurationDecoder.interfaceName, example: "\"eth1\"")
            let port = o.required("port", .integer(1...65535), example: "2002")
            let kind = o.value("broadcast", .oneOf(["subnet", "limited"]), default: "subnet")
            o.rejectUnknownKeys(context: "a target (an interface target has \"interface\", \"port\" and \"broadcast\")")
            guard let name, let port else { return nil }
            return kind == "limited" ? .limitedBroadcast(interface: name, port: port) : .interface(name: name, port: port)
        default:
            c.report(item.location, path, "expected an address:port such as \"192.168.56.255:2002\" or {\"interface\": \"eth1\", \"port\": 2002}, got \(item.kindDescription)")
            return nil
        }
    }

    static let listenInterfacesType = FieldType<[String]>(expected: "a list of interface names such as [\"eth0\", \"eth1\"]") { node in
        guard case .array(let items) = node.value else {
            if case .string(let s) = node.value { return .failure(FieldProblem("expected a list; write [\(JSONString.quote(s))]")) }
            return .failure(FieldProblem("expected a list of interface names such as [\"eth0\", \"eth1\"], got \(node.kindDescription)"))
        }
        if items.isEmpty {
            return .failure(FieldProblem("the list is empty, which would accept no datagram at all; list the interfaces to relay from, or remove the key to accept every interface"))
        }
        var names: [String] = []
        for (i, item) in items.enumerated() {
            switch ConfigurationDecoder.interfaceName.convert(item) {
            case .failure(let p): return .failure(FieldProblem("item \(i): \(p.message)"))
            case .success(let n):
                if names.contains(n) { return .failure(FieldProblem("item \(i): \(JSONString.quote(n)) is listed twice")) }
                names.append(n)
            }
        }
        return .success(names)
    }
}

