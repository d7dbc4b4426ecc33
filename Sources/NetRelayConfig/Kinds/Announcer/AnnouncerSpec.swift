/// `multicast-announcer`: sends the time to a multicast group on a fixed interval.
public struct AnnouncerSpec: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable {
        /// "11/27/2026, 2:03:04 PM", like Node's `new Date().toLocaleString()` in en-US.
        case locale
        /// "2026-11-27T14:03:04.123Z"
        case iso8601
        /// "1795788184.123"
        case epoch
        /// {"time":"2026-11-27T14:03:04.123Z","seq":42,"host":"web1","listener":"time"}
        case json
    }

    public var group: IPAddress
    public var port: Int
    public var interval: Double = 1
    /// IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS.
    public var ttl: Int = 1
    /// IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP.
    public var loopback: Bool = true
    /// Outgoing interface, by name ("eth0") or by one of its addresses; nil: the routing table decides.
    public var interface: String?
    /// Join the group on the sending socket, as the classic example does.
    public var joinGroup: Bool = false
    public var format: Format = .iso8601

    public init(group: IPAddress, port: Int) {
        self.group = group
        self.port = port
    }

    public var destination: Endpoint { Endpoint(address: group, port: port) }
}

extension AnnouncerSpec: KindSpec {
    public static let kindName = "multicast-announcer"
    public var address: ListenerAddress { .sends(to: destination) }
    /// One sending socket on an ephemeral port, opened anew at a restart.
    public func footprint(eventLoops: Int) -> ListenerFootprint {
        ListenerFootprint(sockets: 1, storedSockets: 0)
    }
    /// It sends what it makes, not what it hears (its socket does not read).
    public var relay: RelayPart { .doesNotRelay }

    public func warnings(_ w: inout ListenerWarnings) {
        // 224.0.0.0/24 is link-local (never routed, whatever the TTL); 239/8 is site-scoped.
        if case .v4(let a) = group, a >> 24 != 239, a >> 8 != 0xE00000, ttl > 1 {
            w.warn("ttl", "ttl \(ttl) lets announcements to \(group) cross routers, and the group is outside the administratively scoped range 239.0.0.0/8; use a 239.x.x.x group or ttl 1 unless the announcements must leave this site")
        }
        // The scope is the low nibble of the second byte: 2 link, 4 admin, 5 site, 8 organization, e global.
        if case .v6(let hi, _) = group, (hi >> 48) & 0xF > 5, ttl > 1 {
            w.warn("ttl", "hop limit \(ttl) with \(group), a group wider than site scope; use a site-local group (ff05::/16) unless the announcements must leave this site")
        }
    }
}
