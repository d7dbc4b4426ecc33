/// The `broadcast-rebroadcaster` kind as the configuration sees it: its keys and their decoding (the `targets` list in BroadcastKind+Targets.swift). How it
/// runs is in Sources/NetRelayCore/Listeners/Broadcast/BroadcastKind+Running.swift.
package struct BroadcastKind: ListenerKindSchema {
    package func decode(_ r: ObjectReader) -> BroadcastSpec? {
        let c = r.collector
        let listen = r.required("listen", .endpoint(ipv4Only: true), example: "\"192.168.56.1:2001\"")
        if r.has("targets") { return decodeTargets(r, listen: listen) }
        _ = r.raw("targets")  // a known key here too (for "did you mean" and the list of known keys)
        let hasTarget = r.has("target"), hasInterface = r.has("targetInterface")
        var target: BroadcastSpec.Target?
        let targetAddress = r.optional("target", .endpoint(ipv4Only: true, allowPortZero: false))
        let targetInterface = r.optional("targetInterface", ConfigurationDecoder.interfaceName)
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
        decodeSharedKeys(&s, r)
        if let listen, let target, target.port == listen.port, !s.allowLoop {
            let key = hasTarget ? "target" : "targetPort"
            c.report(r.raw(key)?.location, r.childPath(key),
                     "broadcasting to port \(target.port) while listening on port \(listen.port) would loop: the rebroadcaster hears its own broadcast and adds the prefix again, forever; send to another port, or set \"allowLoop\": true to rely on the own-packet guard (datagrams from our own address and port are dropped)")
        }
        guard listen != nil, target != nil else { return nil }
        return s
    }

    /// The keys every target form shares.
    func decodeSharedKeys(_ s: inout BroadcastSpec, _ r: ObjectReader) {
        r.read("listenInterfaces", Self.listenInterfacesType, into: &s.listenInterfaces)
        r.read("prefix", ConfigurationDecoder.prefixType, into: &s.prefix)
        r.read("sourceAllow", .cidrList, into: &s.sourceAllow)
        r.read("allowLoop", .bool, into: &s.allowLoop)
        r.read("maxDatagramSize", .integer(1...ConfigurationDecoder.maxUDPPayload, unit: "bytes"), into: &s.maxDatagramSize)
        ConfigurationDecoder.decodeRateLimit(r, what: "rebroadcasts", burstUnit: "datagrams", rate: &s.rateLimit, burst: &s.rateLimitBurst)
        ConfigurationDecoder.decodeTotalRateLimit(r, what: "rebroadcasts", rate: &s.totalRateLimit, burst: &s.totalRateLimitBurst)
        r.read("relayMark", ConfigurationDecoder.relayMarkType, into: &s.relayMark)
        ConfigurationDecoder.checkReplyFits(prefix: s.prefix, maxDatagramSize: s.maxDatagramSize, prefixKey: "prefix", r)
    }

    package init() {}
}
