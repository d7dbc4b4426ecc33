/// The `udp-responder` kind as the configuration sees it: its keys and their decoding. How it
/// runs is in Sources/NetRelayCore/Listeners/UDPResponder/UDPResponderKind+Running.swift.
package struct UDPResponderKind: ListenerKindSchema {
    package func decode(_ r: ObjectReader) -> UDPResponderSpec? {
        let listen = r.required("listen", .endpoint(), example: "\"127.0.0.1:2001\"")
        var s = UDPResponderSpec(listen: listen ?? Endpoint(address: .v4(0), port: 0))
        r.read("replyPrefix", ConfigurationDecoder.prefixType, into: &s.replyPrefix)
        ConfigurationDecoder.decodeRateLimit(r, what: "replies", burstUnit: "replies", rate: &s.rateLimit, burst: &s.rateLimitBurst)
        r.read("rateLimitMaxSources", .integer(16...10_000_000, unit: "sources"), into: &s.rateLimitMaxSources)
        r.read("maxDatagramSize", .integer(1...ConfigurationDecoder.maxUDPPayload, unit: "bytes"), into: &s.maxDatagramSize)
        r.read("rejectBadSources", .bool, into: &s.rejectBadSources)
        r.read("reusePort", .bool, into: &s.reusePort)
        r.read("vectorReadCount", .integer(1...1024, unit: "datagrams"), into: &s.vectorReadCount)
        r.read("replyToEmpty", .bool, into: &s.replyToEmpty)
        ConfigurationDecoder.decodeTotalRateLimit(r, what: "replies", rate: &s.totalRateLimit, burst: &s.totalRateLimitBurst)
        r.read("relayMark", ConfigurationDecoder.relayMarkType, into: &s.relayMark)
        ConfigurationDecoder.checkReplyFits(prefix: s.replyPrefix, maxDatagramSize: s.maxDatagramSize, prefixKey: "replyPrefix", r)
        return listen == nil ? nil : s
    }

    package init() {}
}
