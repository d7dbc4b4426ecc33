/// The loop error: listeners that feed each other in a cycle (`RelayLoops`), told in the words
/// each kind declared (`RelayEdges`).
extension ConfigurationDecoder {
    typealias DecodedListener = (spec: ListenerSpec, path: String, node: JSONNode)

    /// One error per loop, at the output of its first relaying listener that feeds the next one,
    /// naming every listener in it.
    static func checkLoops(_ listeners: [DecodedListener], _ c: IssueCollector) {
        let parts = listeners.map { $0.spec.kindSpec.relay }
        for cycle in RelayLoops.loops(parts) {
            // Told from the first relay on, where the error is reported.
            var members = cycle
            if let k = members.firstIndex(where: { parts[$0].relayEdges != nil }) {
                members = Array(members[k...] + members[..<k])
            }
            guard let first = members.first, let relay = parts[first].relayEdges else { continue }
            let steps = members.indices.map { k in
                loopStep(listeners[members[k]].spec, parts[members[k]], next: listeners[members[(k + 1) % members.count]].spec, parts[members[(k + 1) % members.count]])
            }
            let reporter = listeners[first]
            let fed = RelayLoops.firstHeard(from: relay, by: parts[members[1 % members.count]])
            let keyPath = fed?.output.keyPaths.first { reporter.node.find($0) != nil }
            let location = keyPath.flatMap { reporter.node.find($0)?.location } ?? reporter.node.location
            var text = "these listeners form a loop: \(steps.joined(separator: "; ")); every datagram would go round for ever"
                + (relay.advice.eachPass.map { ", \($0)" } ?? "") + "; \(relay.advice.fix)"
            if let optOut = relay.advice.optOut {
                let names = members.filter { parts[$0].relayEdges?.advice.optOut?.setting == optOut.setting }.map { "\"\(listeners[$0].spec.name)\"" }
                let on = names.count == 1 ? "on \(names[0])" : "on one of \(names.dropLast().joined(separator: ", ")) or \(names.last!)"
                text += ", or set \(optOut.setting) \(on) \(optOut.because)"
            }
            c.report(location, keyPath.map { "\(reporter.path).\($0)" } ?? reporter.path, text)
        }
    }

    /// One step of a loop, as the error message tells it.
    private static func loopStep(_ m: ListenerSpec, _ part: RelayPart, next: ListenerSpec, _ nextPart: RelayPart) -> String {
        guard let relay = part.relayEdges, let (output, ear) = RelayLoops.firstHeard(from: relay, by: nextPart) else {
            return "\"\(m.name)\" (\(m.kindName)) replies to \"\(next.name)\""
        }
        return "\"\(m.name)\" \(output.verb) \(output.destination) and \"\(next.name)\" hears it on \(ear.endpoint)"
    }
}

extension RelayPart {
    /// The edges of a relaying listener; nil for the others.
    var relayEdges: RelayEdges? {
        if case .relays(let edges) = self { return edges }
        return nil
    }
}
