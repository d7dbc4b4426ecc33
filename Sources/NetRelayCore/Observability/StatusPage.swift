import NetRelayConfig

/// `/`: the status page people open in a browser, haproxy's stats page for netrelayd.
///
/// One self-contained HTML document (its style and script inline: no other request but
/// `/status.json`, no framework). The server renders the whole table, so the page is complete
/// without JavaScript (and then reloads itself every `noScriptRefreshSeconds`); the script
/// (`StatusPageAssets.script`) re-reads `/status.json` every 2 s, redraws the same table and adds
/// what only successive reads can tell: each counter's rate over the last minute.
///
/// It is rendered from the `/status.json` document, not from the snapshot's types: whatever a
/// kind exports there (its counters, extras such as relay targets or interfaces) shows here
/// without code per kind, and the server and the script follow the same generic rules:
/// - `counters`: one row per counter, total and rate (those still at 0 together on one line);
/// - other numbers and strings of a listener (`openConnections`): a row without a rate;
/// - a list (`targets`, `interfaces`, `notes`): a small table, one column per key of its objects;
/// - an object of such fields (a group of extras): its members, one level down.
///
/// Every text from the document is escaped (`HTMLText`); names, addresses and error messages
/// come from the configuration and the network.
public enum StatusPage {
    public static let noScriptRefreshSeconds = 10
    static let contentSecurityPolicy = "default-src 'none'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// The reply to `GET /`: the page, with a policy that runs only its own script and style
    /// (`nonce`), so an escaping mistake still could not run injected code.
    public static func reply(_ s: DaemonSnapshot, now: Double = wallClockSeconds(), nonce: String = makeNonce()) -> HTTPReply {
        HTTPReply(200, "OK", contentType: "text/html; charset=utf-8", body: render(statusJSON: StatusDocument.render(s), now: now, nonce: nonce),
                  extraHeaders: [("Content-Security-Policy", contentSecurityPolicy + "; script-src 'nonce-\(nonce)'; style-src 'nonce-\(nonce)'"),
                                 ("X-Content-Type-Options", "nosniff")])
    }

    /// The page for one `/status.json` document read at `now` (seconds since the epoch).
    public static func render(statusJSON: String, now: Double, nonce: String) -> String {
        let doc = (try? JSONParser.parse(statusJSON)) ?? (try! JSONParser.parse("{}"))
        let version = HTMLText.escape(doc["version"]?.text ?? "")
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
            <title>netrelayd \(version) status</title>
            <noscript><meta http-equiv="refresh" content="\(noScriptRefreshSeconds)"></noscript>
            <style nonce="\(nonce)">\(StatusPageAssets.style)</style>
            </head>
            <body data-now="\(PrometheusExposition.format(now))" data-updates="0">
            <header><h1>netrelayd <span id="version">\(version)</span></h1>
            <dl id="daemon">\(daemonFacts(doc, now: now))</dl>
            <p id="status">\(HTMLText.escape(doc["status"]?.text ?? ""))</p></header>
            <main><table id="listeners"><thead><tr><th>Listener</th><th>Kind</th><th>Address</th><th>State</th>
            <th>Counters <small>(total, per second over the last minute)</small></th><th>Targets and interfaces</th></tr></thead>
            <tbody>

            """
        for listener in doc["listeners"]?.items ?? [] { html += listenerRow(listener) }
        html += """
            </tbody></table></main>
            <footer><span id="updated">Rendered by the server; without JavaScript this page reloads every \(noScriptRefreshSeconds) s.</span>
            Also: <a href="status.json">status.json</a> · <a href="metrics">metrics</a> (Prometheus) ·
            <a href="-/healthy">-/healthy</a> · <a href="-/ready">-/ready</a></footer>
            <script nonce="\(nonce)">\(StatusPageAssets.script)</script>
            </body></html>

            """
        return html
    }

    static func daemonFacts(_ doc: JSONNode, now: Double) -> String {
        let ready = doc["ready"]?.flag ?? false
        let readyText = ready ? "ready" : "not ready: " + (doc["notReadyReason"]?.text ?? "")
        let healthy = doc["healthy"]?.flag ?? false
        let start = doc["startTime"]?.number ?? now
        var reloadText = "none since the start"
        var reloadOK = true
        if let r = doc["lastReload"], let summary = r["summary"]?.text {
            reloadOK = r["successful"]?.flag ?? false
            reloadText = (reloadOK ? "ok, " : "FAILED, ") + formatAge(now - (r["timestamp"]?.number ?? now)) + " ago: " + summary
        }
        return "<dt>State</dt><dd id=\"ready\" class=\"\(ready ? "ok" : "bad")\">\(HTMLText.escape(readyText))</dd>"
            + "<dt>Health</dt><dd id=\"healthy\" class=\"\(healthy ? "ok" : "bad")\">\(healthy ? "healthy" : "unhealthy")</dd>"
            + "<dt>Up for</dt><dd id=\"uptime\" data-start=\"\(PrometheusExposition.format(start))\">\(formatAge(now - start))</dd>"
            + "<dt>Last reload</dt><dd id=\"reload\" class=\"\(reloadOK ? "ok" : "bad")\">\(HTMLText.escape(reloadText))</dd>"
    }

    static func listenerRow(_ l: JSONNode) -> String {
        let name = HTMLText.escape(l["name"]?.text ?? "")
        let state = l["state"]?.text ?? ""
        var stateText = HTMLText.escape(state)
        if let reason = l["reason"]?.text { stateText += ": " + HTMLText.escape(reason) }
        var counters = "", zeros: [String] = [], extras = ""
        for m in l.members where !["name", "kind", "address", "state", "reason"].contains(m.key) {
            switch m.value.value {
            case .object(let members) where m.key == "counters":
                for c in members {
                    if c.value.number == 0 { zeros.append(HTMLText.escape(humanize(c.key))); continue }
                    counters += "<tr data-counter=\"\(HTMLText.escape(c.key))\"><th>\(HTMLText.escape(humanize(c.key)))</th>"
                        + "<td class=\"total\">\(HTMLText.escape(c.value.text ?? ""))</td><td class=\"rate\">–</td></tr>"
                }
            case .object(let members):
                // A group of extras ({"extras": {"interfaces": [...]}}): its members, one level down.
                for inner in members { other(inner.key, inner.value, counters: &counters, extras: &extras) }
            default:
                other(m.key, m.value, counters: &counters, extras: &extras)
            }
        }
        // The counters still at 0 in one line: most of a quiet listener's counters are.
        if !zeros.isEmpty { counters += "<tr class=\"zeros\"><td colspan=\"3\">0: \(zeros.joined(separator: " · "))</td></tr>" }
        return "<tr data-listener=\"\(name)\"><td class=\"name\">\(name)</td><td class=\"kind\">\(HTMLText.escape(l["kind"]?.text ?? ""))</td>"
            + "<td class=\"address\">\(HTMLText.escape(l["address"]?.text ?? ""))</td><td class=\"state \(state == "up" ? "ok" : "bad")\">\(stateText)</td>"
            + "<td>" + (counters.isEmpty ? "" : "<table class=\"counters\">\(counters)</table>") + "</td><td>\(extras)</td></tr>\n"
    }

    /// A listener's field that is not a counter: a list of objects is a table, a scalar a row
    /// without a rate (a gauge such as openConnections); deeper objects are left out.
    static func other(_ key: String, _ value: JSONNode, counters: inout String, extras: inout String) {
        switch value.value {
        case .array(let items): extras += extraTable(key, items)
        case .object: break
        default:
            counters += "<tr class=\"gauge\"><th>\(HTMLText.escape(humanize(key)))</th><td class=\"total\">\(HTMLText.escape(value.text ?? "–"))</td><td></td></tr>"
        }
    }

    /// A list (a rebroadcaster's targets, a relay's interfaces, notes): objects get one column per
    /// key, other values a row each.
    static func extraTable(_ key: String, _ items: [JSONNode]) -> String {
        guard !items.isEmpty else { return "" }
        var columns: [String] = []
        for item in items { for m in item.members where !columns.contains(m.key) { columns.append(m.key) } }
        var html = "<table class=\"extra\" data-extra=\"\(HTMLText.escape(key))\"><caption>\(HTMLText.escape(humanize(key)))</caption>"
        if !columns.isEmpty { html += "<tr>" + columns.map { "<th>\(HTMLText.escape(humanize($0)))</th>" }.joined() + "</tr>" }
        for item in items {
            if case .object = item.value {
                html += "<tr>" + columns.map { "<td>\(HTMLText.escape(item[$0]?.text ?? "–"))</td>" }.joined() + "</tr>"
            } else {
                // A list of words or sentences (a kind's notes): one to a row.
                html += "<tr><td colspan=\"\(max(1, columns.count))\">\(HTMLText.escape(item.text ?? "–"))</td></tr>"
            }
        }
        return html + "</table>"
    }

    /// "connectionsAccepted" -> "connections accepted" (the script does the same).
    static func humanize(_ key: String) -> String {
        var out = ""
        var previous: Unicode.Scalar?
        for u in key.unicodeScalars {
            let upper = u >= "A" && u <= "Z"
            if upper, let p = previous, (p >= "a" && p <= "z") || (p >= "0" && p <= "9") { out += " " }
            out.unicodeScalars.append(upper ? Unicode.Scalar(u.value + 32)! : u)
            previous = u
        }
        return out
    }

    /// "42 s", "3 min 2 s", "5 h 3 min", "2 d 4 h" (the script does the same).
    static func formatAge(_ seconds: Double) -> String {
        let s = max(0, Int(seconds))
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        if s < 86400 { return "\(s / 3600) h \(s % 3600 / 60) min" }
        return "\(s / 86400) d \(s % 86400 / 3600) h"
    }

    /// 128 random bits as hex: the page's script and style carry it, the policy names it.
    public static func makeNonce() -> String {
        var g = SystemRandomNumberGenerator()
        return String(g.next() as UInt64, radix: 16).leftPadded(to: 16) + String(g.next() as UInt64, radix: 16).leftPadded(to: 16)
    }
}

private extension JSONNode {
    subscript(key: String) -> JSONNode? {
        if case .object(let members) = value { return members.first { $0.key == key }?.value }
        return nil
    }

    var members: [JSONNode.Member] {
        if case .object(let members) = value { return members }
        return []
    }

    var items: [JSONNode] {
        if case .array(let items) = value { return items }
        return []
    }

    /// A scalar as the page shows it; nil for null, objects and lists.
    var text: String? {
        switch value {
        case .string(let s): return s
        case .number(let n): return n
        case .bool(let b): return b ? "yes" : "no"
        case .null, .object, .array: return nil
        }
    }

    var number: Double? {
        if case .number(let n) = value { return Double(n) }
        return nil
    }

    var flag: Bool? {
        if case .bool(let b) = value { return b }
        return nil
    }
}
