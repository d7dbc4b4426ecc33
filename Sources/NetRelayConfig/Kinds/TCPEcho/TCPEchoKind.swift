/// The `tcp-echo` kind as the configuration sees it: its keys and their decoding. How it
/// runs is in Sources/NetRelayCore/Listeners/TCPEcho/TCPEchoKind+Running.swift.
package struct TCPEchoKind: ListenerKindSchema {
    package func decode(_ r: ObjectReader) -> TCPEchoSpec? {
        let listen = r.required("listen", .endpoint(), example: "\"127.0.0.1:2000\"")
        var s = TCPEchoSpec(listen: listen ?? Endpoint(address: .v4(0), port: 0))
        r.read("replyPrefix", ConfigurationDecoder.prefixType, into: &s.replyPrefix)
        r.read("maxConnections", .integer(1...1_000_000, unit: "connections"), into: &s.maxConnections)
        r.read("maxConnectionsPerSource", .integer(0...1_000_000, unit: "connections (0: no limit)"), into: &s.maxConnectionsPerSource)
        r.read("allowHalfOpen", .bool, into: &s.allowHalfOpen)
        r.read("idleTimeout", .seconds(0...604_800, zeroMeans: "never closes idle connections"), into: &s.idleTimeout)
        r.read("allow", .cidrList, into: &s.allow)
        r.read("deny", .cidrList, into: &s.deny)
        r.read("reusePort", .bool, into: &s.reusePort)
        r.read("backlog", .integer(1...65535), into: &s.backlog)
        decodeWaterMarks(r, &s)
        s.sendBufferSize = r.optional("sendBufferSize", .integer(4096...(256 << 20), unit: "bytes"))
        s.receiveBufferSize = r.optional("receiveBufferSize", .integer(4096...(256 << 20), unit: "bytes"))
        if !s.allow.isEmpty, let listen, !s.allow.contains(where: { $0.network.isIPv4 == listen.address.isIPv4 }), !listen.address.isUnspecified {
            r.collector.report(r.raw("allow")?.location, r.childPath("allow"),
                     "no block in the list is \(listen.address.isIPv4 ? "IPv4" : "IPv6") like \(listen); every connection would be refused")
        }
        return listen == nil ? nil : s
    }

    /// The high mark, then the low one (by default `TCPEchoSpec.lowWaterMark(for:)` the high one).
    private func decodeWaterMarks(_ r: ObjectReader, _ s: inout TCPEchoSpec) {
        r.read("writeBufferHighWaterMark", .integer(1024...(64 << 20), unit: "bytes"), into: &s.writeBufferHighWaterMark)
        s.writeBufferLowWaterMark = TCPEchoSpec.lowWaterMark(for: s.writeBufferHighWaterMark)
        let low = r.optional("writeBufferLowWaterMark", .integer(0...(64 << 20), unit: "bytes"))
        if let low { s.writeBufferLowWaterMark = low }
        if s.writeBufferLowWaterMark >= s.writeBufferHighWaterMark {
            let node = r.raw("writeBufferLowWaterMark") ?? r.raw("writeBufferHighWaterMark")
            r.collector.report(node?.location, r.childPath(low != nil ? "writeBufferLowWaterMark" : "writeBufferHighWaterMark"),
                     "writeBufferLowWaterMark (\(s.writeBufferLowWaterMark)) must be below writeBufferHighWaterMark (\(s.writeBufferHighWaterMark)); reading resumes when the queue falls under the low mark")
        }
    }

    package init() {}
}
