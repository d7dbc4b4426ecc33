/// What one listener holds at most, as its kind declares it (`KindSpec.footprint`): the
/// file descriptors the daemon's budget counts (RLIMIT_NOFILE) and the entries systemd's fd
/// store must hold at a restart. Shared code adds these up; it never asks which kind it is.
public struct ListenerFootprint: Sendable, Equatable {
    /// The sockets it opens (with `eventLoopThreads` N: a udp-responder one per loop).
    public var sockets: Int
    /// Of those, the ones that go to the fd store at a restart (not an ephemeral sending socket).
    public var storedSockets: Int
    /// The connections it may hold open at once; nil: it holds none.
    public var connections: ConnectionLimit? = nil
}

/// How many connections a listener may hold, and where the configuration says so.
public struct ConnectionLimit: Sendable, Equatable {
    public var most: Int
    /// The key that sets the limit ("maxConnections"): the fd warnings point at it and name it.
    public var key: String
    /// Whether they go to the fd store at a restart (each one an entry there).
    public var handedOver: Bool
}

extension Configuration {
    /// Each listener's footprint with this configuration's event loops, in file order.
    package var footprints: [ListenerFootprint] {
        listeners.map { $0.kindSpec.footprint(eventLoops: eventLoopThreads) }
    }

    /// "the tcp-echo listeners' maxConnections" for the listeners whose connections count
    /// (`which`), each kind and key once, in file order; nil when none has connections.
    package func connectionLimitsPhrase(_ which: (ConnectionLimit) -> Bool = { _ in true }) -> (phrase: String, keys: String)? {
        var seen: [(kind: String, key: String)] = []
        for (spec, footprint) in zip(listeners, footprints) {
            guard let limit = footprint.connections, which(limit), !seen.contains(where: { $0 == (spec.kindName, limit.key) }) else { continue }
            seen.append((spec.kindName, limit.key))
        }
        guard !seen.isEmpty else { return nil }
        let phrase = KindIndex.list(seen.map { "the \($0.kind) listeners' \($0.key)" })
        let keys = seen.map(\.key).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }.joined(separator: " or ")
        return (phrase, keys)
    }

    /// Where the listener that may hold the most connections states its limit (its key, or the
    /// listener when the default applies): the warnings about the sum point there. Nil for a
    /// configuration built in code.
    package var largestConnectionLimitLocation: SourceLocation? {
        let limits = footprints.map { $0.connections }
        guard let i = limits.indices.max(by: { (limits[$0]?.most ?? 0) < (limits[$1]?.most ?? 0) }) else { return nil }
        return sources[i]?.location(of: limits[i]?.key ?? "")
    }
}
