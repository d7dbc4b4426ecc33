import Logging
import NetRelayConfig

/// What a broadcast-rebroadcaster says: where it rebroadcasts, with which spec, and
/// which targets and listenInterfaces it cannot serve now.
extension BroadcastRole {
    static func line(_ b: BroadcastSpec, _ setup: RebroadcastSetup) -> ServingLine {
        ServingLine(activity: "rebroadcasting to \(describeTarget(b, setup))", details: describe(b))
    }

    static func describeTarget(_ b: BroadcastSpec, _ s: RebroadcastSetup) -> String {
        if b.targets.count > 1, let resolution = s.resolution {
            return zip(b.targets, resolution.rows).map { t, row in
                guard let r = row.target else { return "\(row.label) skipped (\(row.skipped ?? "?"))" }
                if case .interface(let name, _) = t { return "\(r.endpoint) (broadcast address of \(name))" }
                if case .limitedBroadcast(let name, _) = t { return "\(r.endpoint) (limited broadcast out of \(name))" }
                return r.endpoint.description
            }.joined(separator: ", ")
        }
        let resolved = Endpoint(s.target)?.description ?? "\(s.target)"
        if case .interface(let name, _) = b.target { return "\(resolved) (broadcast address of \(name))" }
        return resolved
    }

    static func describe(_ b: BroadcastSpec) -> String {
        var parts: [String] = []
        if !b.prefix.isEmpty { parts.append("prefix \(JSONString.quote(b.prefix))") }
        if !b.listenInterfaces.isEmpty { parts.append("listenInterfaces \(b.listenInterfaces.joined(separator: ","))") }
        if !b.sourceAllow.isEmpty { parts.append("sourceAllow \(b.sourceAllow.map(\.description).joined(separator: ","))") }
        parts.append(b.rateLimit > 0 ? "rateLimit \(formatSeconds(b.rateLimit))/s per source, burst \(b.rateLimitBurst)" : "no rateLimit")
        parts.append("maxDatagramSize \(b.maxDatagramSize)")
        if b.allowLoop { parts.append("allowLoop (own rebroadcasts are dropped when they come back)") }
        parts.append(b.totalRateLimit > 0 ? "totalRateLimit \(formatSeconds(b.totalRateLimit))/s, burst \(b.totalRateLimitBurst)" : "no totalRateLimit")
        parts.append(b.relayMark > 0 ? "relayMark \(b.relayMark)" : "no relayMark")
        return parts.joined(separator: ", ")
    }

    /// One warning per skipped target and per listed interface that does not exist: the
    /// operator learns at start and on every reload what is not served.
    func report(_ s: RebroadcastSetup, previous: RebroadcastSetup?, _ spec: ListenerSpec, _ logger: Logger) {
        let before = Dictionary((previous?.resolution?.rows ?? []).map { ($0.label, $0.skipped) }, uniquingKeysWith: { a, _ in a })
        for row in s.resolution?.rows ?? [] {
            if let why = row.skipped {
                if previous != nil, before[row.label] == .some(why) { continue }
                logger.warning("\(spec.label): skipping target \(row.label): \(why); the other targets are served, and this one is looked up again at the next reload",
                               metadata: ["event": "target-skipped", "target": .string(row.label)])
            } else if let was = before[row.label], was != nil, let r = row.target {
                logger.notice("\(spec.label): target \(row.label) is served again: \(r.endpoint)", metadata: ["event": "target-restored", "target": .string(row.label)])
            }
        }
        for name in s.missingListenInterfaces where !(previous?.missingListenInterfaces.contains(name) ?? false) {
            logger.warning("\(spec.label): listenInterfaces: no interface named \(JSONString.quote(name)) now; datagrams from it are accepted once a reload finds it",
                           metadata: ["event": "interface-missing"])
        }
    }
}
