/// Which listeners of one configuration feed each other, and the loops among them: the rule
/// behind the "these listeners form a loop" configuration error, as a pure function over what
/// each kind declares (`RelayPart`); the decoder only reports what it returns.
///
/// A relaying listener feeds every listener one of its outputs reaches; a listener that
/// replies to the sender feeds a relay that sends from where it hears. A cycle of "feeds"
/// edges turns one datagram into an endless stream. An edge from a listener to itself counts
/// unless the kind drops its own datagrams when they come back (`dropsOwnEchoes`).
public enum RelayLoops {
    /// `edges[i]`: the listeners that hear what listener `i` sends.
    public static func edges(_ parts: [RelayPart]) -> [[Int]] {
        var edges = Array(repeating: [Int](), count: parts.count)
        // By port, so that thousands of listeners cost what their edges cost, not n².
        var byPort: [Int: [(listener: Int, ear: RelayEar)]] = [:]
        for (j, part) in parts.enumerated() {
            for ear in part.ears { byPort[ear.endpoint.port, default: []].append((j, ear)) }
        }
        for (i, part) in parts.enumerated() {
            guard case .relays(let relay) = part else { continue }
            for output in relay.outputs {
                for (j, ear) in byPort[output.port] ?? [] where !edges[i].contains(j) {
                    guard j != i || !relay.dropsOwnEchoes, output.reaches(ear) else { continue }
                    edges[i].append(j)
                    // A listener that replies answers the relay's socket: straight back.
                    if j != i, relay.sendsFromWhereItHears, case .repliesToSender = parts[j], !edges[j].contains(i) { edges[j].append(i) }
                }
            }
        }
        return edges
    }

    /// The first output of `relay` that `listener` hears, and the ear that hears it.
    public static func firstHeard(from relay: RelayEdges, by listener: RelayPart) -> (output: RelayOutput, ear: RelayEar)? {
        for output in relay.outputs {
            if let ear = listener.ears.first(where: { output.reaches($0) }) { return (output, ear) }
        }
        return nil
    }

    /// One cycle per group of listeners that feed each other (a strongly connected component of
    /// more than one listener, or one that feeds itself), as indices starting at the group's
    /// first listener in file order; groups in file order. Empty: no loop.
    public static func loops(_ parts: [RelayPart]) -> [[Int]] {
        let edges = edges(parts)
        var out: [[Int]] = []
        for component in stronglyConnectedComponents(edges) where component.count > 1 || edges[component[0]].contains(component[0]) {
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
