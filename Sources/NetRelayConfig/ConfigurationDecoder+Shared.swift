/// Field types and checks that several kinds' decoders share (each kind's own decoding is in
/// its folder: Kinds/<Kind>/).
extension ConfigurationDecoder {
    static let prefixType = FieldType<String>(expected: "a string of at most 4096 bytes") { node in
        guard case .string(let s) = node.value else {
            return .failure(FieldProblem("expected a string, got \(node.kindDescription)"))
        }
        guard s.utf8.count <= 4096 else { return .failure(FieldProblem("the prefix is \(s.utf8.count) bytes; at most 4096 are allowed")) }
        return .success(s)
    }

    static let relayMarkType = FieldType<Int>.integer(0...63).renamed("a DSCP value from 1 to 63 (0: do not mark and do not drop marked datagrams)")

    static let interfaceName = FieldType<String>(expected: "an interface name such as \"eth0\"") { node in
        guard case .string(let s) = node.value else {
            return .failure(FieldProblem("expected an interface name (a string), got \(node.kindDescription)"))
        }
        guard !s.isEmpty, s.utf8.count < 16, !s.contains("/"), !s.contains(where: \.isWhitespace) else {
            return .failure(FieldProblem("\(JSONNode.excerpt(s)) is not a valid interface name (1-15 characters, no '/' or spaces)"))
        }
        return .success(s)
    }

    /// `rateLimit` (the rate per source) and `rateLimitBurst` (twice the rate unless given).
    static func decodeRateLimit(_ r: ObjectReader, what: String, burstUnit: String, rate: inout Double, burst: inout Int) {
        r.read("rateLimit", .seconds(0...10_000_000).renamed("a number of \(what) per second per source, from 0 to 10000000 (0: no limit)"), into: &rate)
        burst = RelayLimits.burst(for: rate)
        r.read("rateLimitBurst", .integer(1...10_000_000, unit: burstUnit), into: &burst)
    }

    /// `totalRateLimit` and its burst (twice the rate unless given, as for `rateLimit`).
    static func decodeTotalRateLimit(_ r: ObjectReader, what: String, rate: inout Double, burst: inout Int) {
        r.read("totalRateLimit", .seconds(0...10_000_000).renamed("a number of \(what) per second across all sources, from 0 to 10000000 (0: no limit)"), into: &rate)
        burst = RelayLimits.burst(for: rate)
        r.read("totalRateLimitBurst", .integer(1...10_000_000, unit: what), into: &burst)
    }

    static func checkReplyFits(prefix: String, maxDatagramSize: Int, prefixKey: String, _ r: ObjectReader) {
        let total = prefix.utf8.count + maxDatagramSize
        if total > maxUDPPayload {
            r.collector.report(r.raw("maxDatagramSize")?.location ?? r.node.location, r.childPath("maxDatagramSize"),
                     "\(prefixKey) (\(prefix.utf8.count) bytes) plus maxDatagramSize (\(maxDatagramSize)) is \(total) bytes, more than fits in one UDP datagram (\(maxUDPPayload)); lower maxDatagramSize to at most \(maxUDPPayload - prefix.utf8.count)")
        }
    }
}

extension ObjectReader {
    /// Reads an optional key into a spec's setting. The setting's current value is the default
    /// (the spec's own, so that the struct and the decoder state it once): it stays when the key
    /// is absent, and when the value is invalid (that is reported).
    func read<T>(_ key: String, _ type: FieldType<T>, into setting: inout T) {
        setting = value(key, type, default: setting)
    }
}

extension FieldType {
    /// The same conversion with another description of what is expected.
    func renamed(_ expected: String) -> FieldType<T> {
        FieldType(expected: expected) { node in
            switch self.convert(node) {
            case .success(let v): return .success(v)
            case .failure:
                if case .number(let text) = node.value { return .failure(FieldProblem("\(JSONNode.excerpt(number: text)) is out of range; expected \(expected)")) }
                return .failure(FieldProblem("expected \(expected), got \(node.kindDescription)"))
            }
        }
    }
}
