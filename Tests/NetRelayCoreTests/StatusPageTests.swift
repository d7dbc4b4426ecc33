import Testing
@testable import NetRelayCore

/// The status page as the server renders it (what a browser without JavaScript shows): every
/// listener, generic rendering of whatever a kind exports, and escaping of hostile text.
@Suite("Status page: the server-rendered table")
struct StatusPageTests {
    /// A /status.json document with a kind this build does not have (its own counters and an
    /// "interfaces" list) and text an attacker could put into a config or an error message.
    static let document = #"""
        {"version": "9.9.9", "ready": false, "notReadyReason": "listener \"down\" is down: <b>bad</b>", "healthy": true, "startTime": 1000,
         "status": "Serving 2 listeners | <img src=x onerror=alert(1)>",
         "listeners": [
           {"name": "echo", "kind": "tcp-echo", "address": "127.0.0.1:2000", "state": "up", "openConnections": 2,
            "counters": {"connectionsAccepted": 5, "refusedDenied": 0, "bytesIn": 100, "closedIdle": 0}},
           {"name": "relay", "kind": "some-future-kind", "address": "0.0.0.0:5353", "state": "up", "counters": {"packetsRelayed": 7},
            "interfaces": [{"name": "eth0", "state": "up", "relayed": 3}, {"name": "<script>x", "state": "pending", "reason": "no such interface"}],
            "notes": ["listens on every interface", "<i>x</i>"],
            "extras": {"pendingInterfaces": 1, "groups": [{"group": "224.0.0.251", "joined": true}], "histogram": {"le": [1]}}},
           {"name": "down", "kind": "udp-responder", "address": "127.0.0.1:2001", "state": "down",
            "reason": "Failed to bind \"<svg onload=alert(1)>\" \u0007 \u202e'&"}
         ],
         "lastReload": {"successful": false, "timestamp": 1090, "summary": "reload 1 FAILED (x.json:1:2: '&')", "succeeded": 0, "failed": 1}}
        """#

    static let page = StatusPage.render(statusJSON: document, now: 1100, nonce: "n0nce")

    @Test("Every listener has a row with its kind, address and state")
    func everyListener() {
        for name in ["echo", "relay", "down"] { #expect(Self.page.contains("<tr data-listener=\"\(name)\">")) }
        #expect(Self.page.contains(#"<td class="kind">some-future-kind</td><td class="address">0.0.0.0:5353</td><td class="state ok">up</td>"#))
        #expect(Self.page.contains("<td class=\"state bad\">down: Failed to bind"))
    }

    @Test("Counters, gauges and lists of objects are rendered whatever the kind (no code per kind)")
    func genericRendering() {
        #expect(Self.page.contains(#"<tr data-counter="packetsRelayed"><th>packets relayed</th><td class="total">7</td><td class="rate">–</td></tr>"#))
        #expect(Self.page.contains(#"<tr data-counter="connectionsAccepted"><th>connections accepted</th><td class="total">5</td>"#))
        #expect(Self.page.contains(#"<tr class="gauge"><th>open connections</th><td class="total">2</td><td></td></tr>"#))
        #expect(Self.page.contains(#"<tr class="zeros"><td colspan="3">0: refused denied · closed idle</td></tr>"#), "counters at 0 on one line")
        #expect(Self.page.contains(#"<table class="extra" data-extra="interfaces"><caption>interfaces</caption><tr><th>name</th><th>state</th><th>relayed</th><th>reason</th></tr>"#))
        #expect(Self.page.contains("<tr><td>eth0</td><td>up</td><td>3</td><td>–</td></tr>"))
        // A group of extras, one level down; deeper objects are left out.
        #expect(Self.page.contains(#"<tr class="gauge"><th>pending interfaces</th><td class="total">1</td><td></td></tr>"#))
        #expect(Self.page.contains(#"<table class="extra" data-extra="groups"><caption>groups</caption><tr><th>group</th><th>joined</th></tr><tr><td>224.0.0.251</td><td>yes</td></tr></table>"#))
        #expect(!Self.page.contains("histogram"))
        // A list of strings (a kind's notes): a row each.
        #expect(Self.page.contains(#"<table class="extra" data-extra="notes"><caption>notes</caption><tr><td colspan="1">listens on every interface</td></tr><tr><td colspan="1">&lt;i&gt;x&lt;/i&gt;</td></tr></table>"#))
    }

    @Test("The daemon's facts: version, readiness with its reason, uptime, the last reload")
    func daemonFacts() {
        #expect(Self.page.contains(#"<span id="version">9.9.9</span>"#))
        #expect(Self.page.contains(#"<dd id="ready" class="bad">not ready: listener &quot;down&quot; is down: &lt;b&gt;bad&lt;/b&gt;</dd>"#))
        #expect(Self.page.contains(#"<dd id="uptime" data-start="1000">1 min 40 s</dd>"#))
        #expect(Self.page.contains(#"<dd id="reload" class="bad">FAILED, 10 s ago: reload 1 FAILED (x.json:1:2: &#39;&amp;&#39;)</dd>"#))
        #expect(Self.page.contains(#"<body data-now="1100" data-updates="0">"#))
    }

    @Test("Hostile text is escaped: the page's own script is the only one, no injected element")
    func escaping() {
        #expect(Self.page.ranges(of: "<script").count == 1, "one <script> element: the page's own")
        #expect(Self.page.contains(#"<script nonce="n0nce">"#))
        for injected in ["<img", "<svg", "<b>", "<script>x"] { #expect(!Self.page.contains(injected), "\(injected) reached the page") }
        #expect(Self.page.contains("&lt;script&gt;x"))
        #expect(Self.page.contains(#"Failed to bind &quot;&lt;svg onload=alert(1)&gt;&quot; \u{7} \u{202e}&#39;&amp;"#))
    }

    @Test("HTMLText.escape", arguments: [
        ("plain", "plain"), ("<a href='x'>&\"", "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"),
        ("line\nbreak", "line\\nbreak"), ("\u{202E}evil", "\\u{202e}evil"), ("\u{85}", "\\u{85}"), ("ünï", "ünï"),
    ])
    func htmlEscape(_ input: String, _ expected: String) {
        #expect(HTMLText.escape(input) == expected)
    }

    @Test("Counter keys read as words; ages as a person says them")
    func wording() {
        #expect(StatusPage.humanize("connectionsAccepted") == "connections accepted")
        #expect(StatusPage.humanize("droppedInKernel") == "dropped in kernel")
        #expect(StatusPage.humanize("bytesIn") == "bytes in")
        #expect([0, 59, 60, 3599, 3600, 86400 + 7200].map { StatusPage.formatAge(Double($0)) } == ["0 s", "59 s", "1 min 0 s", "59 min 59 s", "1 h 0 min", "1 d 2 h"])
    }

    @Test("GET / answers the page for the daemon's snapshot, with a policy that runs only the page's own script")
    func reply() {
        let r = HTTPReply.answer(.landing, snapshot: ObservabilityTests.snapshot)
        #expect(r.status == 200 && r.contentType == "text/html; charset=utf-8")
        let policy = r.extraHeaders.first { $0.0 == "Content-Security-Policy" }?.1 ?? ""
        let nonce = policy.split(separator: "'").first { $0.hasPrefix("nonce-") }.map { String($0.dropFirst(6)) } ?? ""
        #expect(nonce.count == 32 && policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"))
        #expect(r.body.contains("<script nonce=\"\(nonce)\">") && r.body.contains("<style nonce=\"\(nonce)\">"))
        for name in ["echo", "udp", "time", "gone&quot;x"] { #expect(r.body.contains("<tr data-listener=\"\(name)\">")) }
        #expect(HTTPReply.answer(.landing, snapshot: ObservabilityTests.snapshot).body != r.body, "a fresh nonce per response")
    }
}
