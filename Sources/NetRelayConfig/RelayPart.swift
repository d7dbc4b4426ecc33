/// A listener's part in relay loops, as its kind declares it (`KindSpec.relay`): what
/// it hears, what it sends on and where that can be heard. There is no default: a kind that
/// relays and declared nothing would get no loop check, so every kind says which it is.
public enum RelayPart: Sendable {
    /// Nothing it sends is something it heard from another listener (an echo answers on its
    /// own connection; an announcer sends what nobody sent it).
    case doesNotRelay
    /// Replies to each datagram's source, from the socket that heard it.
    case repliesToSender(hears: [RelayEar])
    /// Sends what it hears to its outputs.
    case relays(RelayEdges)

    /// What it hears on (nothing for a listener that does not relay).
    var ears: [RelayEar] {
        switch self {
        case .doesNotRelay: return []
        case .repliesToSender(let ears): return ears
        case .relays(let edges): return edges.hears
        }
    }
}

/// Where a listener hears datagrams: a bound address and port, on some interfaces or all.
public struct RelayEar: Sendable, Equatable {
    public var endpoint: Endpoint
    /// The interfaces it hears on, by name; nil: every interface.
    public var interfaces: Set<String>?

    public init(_ endpoint: Endpoint, interfaces: Set<String>? = nil) {
        self.endpoint = endpoint
        self.interfaces = interfaces
    }
}

/// What a relaying listener hears and sends: the edges it adds to the loop graph, and what
/// the loop error tells the operator about it.
public struct RelayEdges: Sendable {
    public var hears: [RelayEar]
    public var outputs: [RelayOutput]
    /// Whether it sends from a socket it hears on, so that a listener replying to what it sends
    /// (a udp-responder) answers it back.
    public var sendsFromWhereItHears: Bool
    /// Whether its own datagrams that come back to it are dropped (an own-packet guard): an edge
    /// from it to itself is then no loop.
    public var dropsOwnEchoes: Bool
    public var advice: LoopAdvice
}

/// One destination a relaying listener sends to, and who can hear it.
public struct RelayOutput: Sendable {
    /// The destination port: only listeners on it can hear it.
    public var port: Int
    /// How the loop error names it: "127.255.255.255:2002", "127.0.0.1:2056 (receivers[1])".
    public var destination: String
    /// What the loop error says the listener does: "sends to", "copies to".
    public var verb = "sends to"
    /// The interfaces it leaves by, by name; nil: any (the routing table decides).
    public var interfaces: Set<String>? = nil
    /// Where it is written in the listener's object ("target", "targets[1]"): the first one the
    /// file has is where the loop error points and the path it quotes.
    public var keyPaths: [String]
    /// Whether a socket bound to this endpoint (on the port) hears it.
    public var reaches: @Sendable (Endpoint) -> Bool

    /// Whether `ear` hears it: the port, an interface in common, and the kind's rule.
    func reaches(_ ear: RelayEar) -> Bool {
        guard ear.endpoint.port == port else { return false }
        if let mine = interfaces, let theirs = ear.interfaces, mine.isDisjoint(with: theirs) { return false }
        return reaches(ear.endpoint)
    }
}

/// How a loop error ends for the kind reported first: what each pass does, how to break the
/// loop, and the setting that accepts it (with what then breaks it).
public struct LoopAdvice: Sendable, Equatable {
    /// What each pass adds ("one more prefix each pass"); nil: nothing grows.
    public var eachPass: String?
    /// "point a target at a port no listener in the loop listens on".
    public var fix: String
    /// The setting that accepts the loop, as written in the file (`"allowLoop": true`), and
    /// what then breaks it; nil: no such setting.
    public var optOut: (setting: String, because: String)?

    public static func == (a: LoopAdvice, b: LoopAdvice) -> Bool {
        a.eachPass == b.eachPass && a.fix == b.fix && a.optOut?.setting == b.optOut?.setting && a.optOut?.because == b.optOut?.because
    }
}

/// Who hears a unicast or multicast destination: a socket on its port bound to the wildcard of
/// its family (an IPv6 wildcard hears IPv4 too, dual-stack) or to the address itself. For a
/// kind's `RelayOutput.reaches`.
public enum RelayReach {
    public static func address(_ destination: IPAddress) -> @Sendable (Endpoint) -> Bool {
        { listen in
            if listen.address.isUnspecified { return !listen.address.isIPv4 || destination.isIPv4 }
            return listen.address.unmapped == destination.unmapped
        }
    }
}
