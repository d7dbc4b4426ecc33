import Foundation
import Testing

/// `GET /` through the real binary, as a browser without JavaScript (or curl) gets it: the
/// server-rendered table. scripts/lib/status_page_check.py drives a real browser over the same page.
@Suite("Status page over the real endpoint")
struct StatusPageEndpointTests {
    /// A rebroadcaster target on an interface that does not exist (skipped, not fatal), whose
    /// name is HTML: the config is hostile input.
    static let hostileInterface = #"<b>x&'""#

    @Test("GET / without JavaScript: a row per listener with the counts after traffic, relay targets, hostile names escaped, a strict policy")
    func serverRenderedTable() throws {
        let httpPort = Ports.free(), tcpPort = Ports.free(), udpPort = Ports.free(), bcastPort = Ports.free(), targetPort = Ports.free()
        let interface = Self.hostileInterface.replacingOccurrences(of: "\"", with: "\\\"")
        let daemon = try DaemonProcess.launch(config: configJSON([
            tcpEcho(port: tcpPort),
            udpResponder(port: udpPort),
            #"{"name": "bcast", "kind": "broadcast-rebroadcaster", "listen": "127.0.0.1:\#(bcastPort)", "targets": ["127.255.255.255:\#(targetPort)", {"interface": "\#(interface)", "port": \#(targetPort)}]}"#,
        ], extra: ObservabilityEndpointTests.http(httpPort)))
        defer { daemon.stop() }
        for _ in 0..<2 {
            let c = try TCPClient(port: tcpPort)
            try c.send("hi")
            _ = try c.receive(exactly: 2)
            c.close()
        }
        let udp = try UDPTestSocket()
        for i in 0..<3 {
            udp.send("ping\(i)", to: "127.0.0.1", port: udpPort)
            #expect(udp.receive() != nil)
        }
        try waitUntil(timeout: 10, "the counts in /status.json") {
            let doc = try HTTPTestClient.get(port: httpPort, "/status.json").body
            return doc.contains(#""connectionsAccepted": 2"#) && doc.contains(#""datagramsIn": 3"#)
        }

        let page = try HTTPTestClient.get(port: httpPort, "/")
        #expect(page.status == 200)
        #expect(page.head.contains("Content-Type: text/html; charset=utf-8"))
        #expect(page.head.contains("Content-Security-Policy: default-src 'none'; connect-src 'self'"))
        let body = page.body
        for name in ["echo", "udp", "bcast"] { #expect(body.contains("<tr data-listener=\"\(name)\">"), "no row for \(name)") }
        #expect(body.contains(#"<tr data-counter="connectionsAccepted"><th>connections accepted</th><td class="total">2</td>"#))
        #expect(body.contains(#"<tr data-counter="datagramsIn"><th>datagrams in</th><td class="total">3</td>"#))
        #expect(body.contains("<td class=\"kind\">tcp-echo</td><td class=\"address\">127.0.0.1:\(tcpPort)</td><td class=\"state ok\">up</td>"))
        #expect(body.contains(#"<dd id="ready" class="ok">ready</dd>"#))
        // The targets: both, the missing interface's as text.
        #expect(body.contains(#"<table class="extra" data-extra="targets"><caption>targets</caption>"#))
        #expect(body.contains("<td>127.255.255.255:\(targetPort)</td><td>127.255.255.255:\(targetPort)</td>"))
        #expect(body.contains("&lt;b&gt;x&amp;&#39;&quot;:\(targetPort)"))
        #expect(!body.contains("<b>x"), "the interface name reached the page as HTML")
        #expect(body.ranges(of: "<script").count == 1)
        // HEAD: the head only.
        let head = try HTTPTestClient.get(port: httpPort, "/", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)
    }
}
