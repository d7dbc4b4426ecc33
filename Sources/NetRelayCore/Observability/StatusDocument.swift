import NetRelayConfig

/// `/status.json`: the facts of STATUS=, structured, for `netrelayctl status` and for people.
///
///     {"version": "0.3.0", "ready": true, "notReadyReason": null, "healthy": true, "startTime": 1764619200.5,
///      "status": "Serving 2 listeners | ...",
///      "listeners": [{"name": "echo", "kind": "tcp-echo", "address": "127.0.0.1:2000", "state": "up",
///                     "openConnections": 1, "counters": {"connectionsAccepted": 3, ...}}],
///      "lastReload": {"successful": true, "timestamp": 1764619300.1, "summary": "reload 1 ok (...)",
///                     "succeeded": 1, "failed": 0}}
///
/// Counter keys are the `Counter` case names; a listener lists the counters of its kind, its
/// `dropped` total when its kind drops datagrams (`ListenerSnapshot.dropped`), the fields its kind
/// adds (a rebroadcaster's "targets") and "notes" for people.
public enum StatusDocument {
    public static func render(_ s: DaemonSnapshot) -> String {
        var listeners: [String] = []
        for l in s.listeners {
            var fields = [
                "\"name\": \(JSONString.quote(l.name))",
                "\"kind\": \(JSONString.quote(l.kind.name))",
                "\"address\": \(JSONString.quote(l.address))",
            ]
            switch l.state {
            case .up:
                fields.append("\"state\": \"up\"")
                if l.kind.holdsConnections { fields.append("\"openConnections\": \(l.openConnections)") }
                let counters = Counter.allCases.filter { $0.applies(to: l.kind) }
                    .map { "\(JSONString.quote("\($0)")): \(l.value($0))" }
                fields.append("\"counters\": {" + counters.joined(separator: ", ") + "}")
                if l.kind.dropsDatagrams { fields.append("\"dropped\": \(l.dropped)") }
                for field in l.extras.fields { fields.append("\(JSONString.quote(field.key)): \(field.json)") }
                if !l.extras.notes.isEmpty { fields.append("\"notes\": [" + l.extras.notes.map(JSONString.quote).joined(separator: ", ") + "]") }
            case .down(let reason):
                fields.append("\"state\": \"down\"")
                fields.append("\"reason\": \(JSONString.quote(reason))")
            }
            listeners.append("    {" + fields.joined(separator: ", ") + "}")
        }
        let r = s.reloads
        let reload = "{\"successful\": \(r.lastSuccessful), \"timestamp\": \(PrometheusExposition.format(r.lastTimestamp)), \"summary\": \(r.lastSummary.map(JSONString.quote) ?? "null"), \"succeeded\": \(r.succeeded), \"failed\": \(r.failed)}"
        return """
        {
          "version": \(JSONString.quote(s.version)),
          "ready": \(s.notReadyReason == nil),
          "notReadyReason": \(s.notReadyReason.map(JSONString.quote) ?? "null"),
          "healthy": \(s.unhealthyReason == nil),
          "startTime": \(PrometheusExposition.format(s.startTime)),
          "status": \(JSONString.quote(s.statusLine)),
          "listeners": [
        \(listeners.joined(separator: ",\n"))
          ],
          "lastReload": \(reload)
        }

        """
    }
}
