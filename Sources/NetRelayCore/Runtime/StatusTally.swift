import NetRelayConfig

/// The totals of the STATUS= line, which each kind adds its listeners' counts to
/// (`ListenerKind.addStatus`): `tcp 3 open, 120 accepted, 2 refused | udp 1520 in, 1518 out,
/// 2 dropped | 300 announcements`. A part appears once a listener of its sort has added to it.
public struct StatusTally: Sendable {
    public struct Connections: Sendable { public var open = 0, accepted = 0, refused = 0 }
    public struct Datagrams: Sendable { public var received = 0, sent = 0, dropped = 0 }

    public var connections: Connections?
    public var datagrams: Datagrams?
    public var announcements: Int?
    /// Listeners backing off at RLIMIT_NOFILE, quoted.
    public var atFdLimit: [String] = []

    public mutating func addConnections(open: Int, accepted: Int, refused: Int) {
        let c = connections ?? Connections()
        connections = Connections(open: c.open + open, accepted: c.accepted + accepted, refused: c.refused + refused)
    }

    public mutating func addDatagrams(received: Int, sent: Int, dropped: Int) {
        let d = datagrams ?? Datagrams()
        datagrams = Datagrams(received: d.received + received, sent: d.sent + sent, dropped: d.dropped + dropped)
    }

    /// A datagram listener's part: what it received, sent and dropped.
    public mutating func addDatagrams(of l: ListenerSnapshot) {
        addDatagrams(received: l.value(.datagramsIn), sent: l.value(.datagramsOut), dropped: l.dropped)
    }

    public mutating func addAnnouncements(_ n: Int) {
        announcements = (announcements ?? 0) + n
    }

    /// The parts of the line, in order; `fdLimit` is read only when a listener is at it.
    public func parts(fdLimit: () -> Int) -> [String] {
        var parts: [String] = []
        if let c = connections { parts.append("tcp \(c.open) open, \(c.accepted) accepted" + (c.refused > 0 ? ", \(c.refused) refused" : "")) }
        if !atFdLimit.isEmpty {
            parts.append("AT THE FD LIMIT (RLIMIT_NOFILE \(fdLimit())): \(atFdLimit.joined(separator: ", ")) not accepting")
        }
        if let d = datagrams { parts.append("udp \(d.received) in, \(d.sent) out" + (d.dropped > 0 ? ", \(d.dropped) dropped" : "")) }
        if let n = announcements { parts.append("\(n) announcement\(n == 1 ? "" : "s")") }
        return parts
    }
}

extension ListenerStats {
    /// The sum of these counters.
    public func total(_ counters: [Counter]) -> Int {
        counters.reduce(0) { $0 + value($1) }
    }
}
