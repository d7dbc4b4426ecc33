/// Which datagram listeners of one configuration feed each other, and the loops among them:
/// the rule behind the "these listeners form a loop" configuration error, as a pure function
/// over the listeners (the decoder only reports what it returns).
///
/// A rebroadcaster feeds every listener its target reaches; a responder feeds the sender of
/// each datagram, which for a rebroadcaster is its listening socket (it sends from it). A
/// cycle of "feeds" edges turns one datagram into an endless stream (each pass adds the
/// prefix, and with `rateLimit` 0 nothing slows it down). A rebroadcaster's edge to itself is
/// left out: the own-packet guard breaks that one, and the decoder checks it on its own.
public enum RelayLoops {
    public struct Node: Sendable, Equatable {
        public enum Role: Sendable, Equatable {
            /// Sends what it hears to `target`. `allowLoop`: the operator accepts that it may be
            /// part of a loop (the relay mark and the rate limits break it), so it adds no edges.
            case rebroadcaster(target: BroadcastSpec.Target, allowLoop: Bool)
            /// Replies to the source of each datagram.
            case responder
        }

        public var listen: Endpoint
        public var role: Role
        /// Every target of a rebroadcaster (each one is a source of edges); the role's target is the first.
        public var targets: [BroadcastSpec.Target]

        public init(listen: Endpoint, role: Role) {
            self.listen = listen
            self.role = role
            if case .rebroadcaster(let t, _) = role { targets = [t] } else { targets = [] }
        }

        /// Whether it sends what it hears on (else it replies to the sender).
        public var isRebroadcaster: Bool {
            if case .rebroadcaster = role { return true }
            return false
        }

        /// A rebroadcaster with several targets (`targets`).
        public init(listen: Endpoint, targets: [BroadcastSpec.Target], allowLoop: Bool) {
            self.init(listen: listen, role: .rebroadcaster(target: targets[0], allowLoop: allowLoop))
            self.targets = targets
        }
    }

    /// Whether a datagram sent to `target` is heard by a UDP socket bound to `listen`. A
    /// wildcard socket hears everything sent to its port (an IPv6 one too, dual-stack); a socket
    /// on an address hears datagrams to that address, and broadcasts to its subnet: the subnet of
    /// a broadcast address is read from its trailing one bits (127.255.255.255 covers 127/8,
    /// 192.168.56.255 covers 192.168.56.0/24), which can only make the subnet larger than the
    /// real one, never miss a loop. An interface's broadcast address is only known at run time:
    /// it is taken to reach every non-loopback IPv4 address on the port.
    public static func reaches(_ target: BroadcastSpec.Target, _ listen: Endpoint) -> Bool {
        guard target.port == listen.port else { return false }
        if listen.address.isUnspecified { return true }
        guard case .v4(let bound) = listen.address.unmapped else { return false }
        switch target {
        case .interface, .limitedBroadcast:
            return !listen.address.isLoopback
        case .address(let e):
            guard case .v4(let t) = e.address else { return false }
            if t == bound || t == UInt32.max { return true }
            let hostBits = (~t).trailingZeroBitCount
            guard hostBits >= 2 else { return false }
            let mask = UInt32.max << UInt32(hostBits)
            return bound & mask == t & mask
        }
    }

    /// `edges[i]`: the listeners that hear what listener `i` sends.
    public static func edges(_ nodes: [Node]) -> [[Int]] {
        var edges = Array(repeating: [Int](), count: nodes.count)
        // By port, so that thousands of listeners cost what their edges cost, not n².
        var byPort: [Int: [Int]] = [:]
        for (j, m) in nodes.enumerated() { byPort[m.listen.port, default: []].append(j) }
        for (i, n) in nodes.enumerated() {
            guard case .rebroadcaster(_, let allowLoop) = n.role, !allowLoop else { continue }
            for target in n.targets {
                for j in byPort[target.port] ?? [] where j != i && reaches(target, nodes[j].listen) {
                    // Two targets reaching one listener are one edge.
                    if edges[i].contains(j) { continue }
                    let m = nodes[j]
                    edges[i].append(j)
                    // The responder answers the rebroadcaster's socket: straight back.
                    if case .responder = m.role { edges[j].append(i) }
                }
            }
        }
        return edges
    }

    /// One cycle per group of listeners that feed each other (a strongly connected component of
    /// more than one listener), as indices starting at the group's first listener in file order;
    /// groups in file order. Empty: no loop.
    public static func loops(_ nodes: [Node]) -> [[Int]] {
        let edges = edges(nodes)
        var out: [[Int]] = []
        for component in stronglyConnectedComponents(edges) where component.count > 1 {
            let members = Set(component)
            let start = component.min()!
            out.append(cycle(from: start, within: members, edges))
        }
        return out.sorted { $0[0] < $1[0] }
    }

    /// A shortest path from `start` back to itself inside the component (breadth first).
    private static func cycle(from start: Int, within members: Set<Int>, _ edges: [[Int]]) -> [Int] {
        var previous: [Int: Int] = [:]
        var queue = [start]
        var head = 0
        while head < queue.count {
            let v = queue[head]
            head += 1
            for w in edges[v] where members.contains(w) {
                if w == start {
                    var path = [v]
                    while path.last! != start { path.append(previous[path.last!]!) }
                    return path.reversed()
                }
                if previous[w] == nil {
                    previous[w] = v
                    queue.append(w)
                }
            }
        }
        return [start]  // Not reached: every member of a component lies on a cycle through start.
    }

    /// Tarjan's algorithm, iterative so that a long chain of listeners cannot exhaust the stack.
    private static func stronglyConnectedComponents(_ edges: [[Int]]) -> [[Int]] {
        let n = edges.count
        var index = Array(repeating: -1, count: n)
        var low = Array(repeating: 0, count: n)
        var onStack = Array(repeating: false, count: n)
        var stack: [Int] = []
        var components: [[Int]] = []
        var next = 0
        for root in 0..<n where index[root] < 0 {
            // (vertex, position in its edge list)
            var work: [(Int, Int)] = [(root, 0)]
            index[root] = next; low[root] = next; next += 1
            stack.append(root); onStack[root] = true
            while let (v, position) = work.last {
                if position < edges[v].count {
                    work[work.count - 1].1 += 1
                    let w = edges[v][position]
                    if index[w] < 0 {
                        index[w] = next; low[w] = next; next += 1
                        stack.append(w); onStack[w] = true
                        work.append((w, 0))
                    } else if onStack[w] {
                        low[v] = min(low[v], index[w])
                    }
                    continue
                }
                work.removeLast()
                if let (parent, _) = work.last { low[parent] = min(low[parent], low[v]) }
                if low[v] == index[v] {
                    var component: [Int] = []
                    while true {
                        let w = stack.removeLast()
                        onStack[w] = false
                        component.append(w)
                        if w == v { break }
                    }
                    components.append(component)
                }
            }
        }
        return components
    }
}
