#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running daemon's listeners, their state and counters, from its HTTP endpoint.",
        discussion: """
            Reads /status.json from the daemon's HTTP endpoint ("http": {"listen": ...} in its \
            configuration) and prints one row per listener:

              $ netrelayctl status
              netrelayd 0.1.0: ready; reload 1 ok (0 added, 1 changed, 0 removed, 1 unchanged)
              LISTENER  KIND           ADDRESS         STATE  OPEN  TRAFFIC
              echo      tcp-echo       127.0.0.1:2000  up     1     12 accepted, 96 bytes in, 96 bytes out
              udp       udp-responder  127.0.0.1:2001  up     -     40 in, 38 out, 2 dropped

            Exit status: 0 when the daemon is ready (every listener serves), 1 when it answers \
            but is not ready (a listener is down, or it is starting or stopping; the reason is \
            printed), 2 when it cannot be reached (or on usage errors).
            """
    )

    /// NETRELAYCTL_STATUS_URL: where a container's health check (`netrelayctl status`, no
    /// arguments) finds an endpoint the config moved away from 127.0.0.1:9477.
    @Option(help: ArgumentHelp("The daemon's HTTP endpoint; without --url, $NETRELAYCTL_STATUS_URL if set.", valueName: "url"))
    var url = ProcessInfo.processInfo.environment["NETRELAYCTL_STATUS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:9477"

    @Flag(help: "Print /status.json as the daemon sent it.")
    var json = false

    @Option(help: ArgumentHelp("Seconds to wait for the answer.", valueName: "seconds"))
    var timeout: Double = 5

    func validate() throws {
        _ = try HTTPURL.parse(url)
        try OptionCheck.seconds(timeout, "--timeout", allowZero: false)
    }

    func run() throws {
        let base = try HTTPURL.parse(url)
        let path = (base.path.hasSuffix("/") ? String(base.path.dropLast()) : base.path) + "/status.json"
        let response: HTTPGet.Response
        do {
            response = try HTTPGet.get(base.hostPort, path: path, timeout: timeout)
        } catch let failure as ProbeFailure {
            StandardStream.err("netrelayctl: \(failure.reason)\n")
            throw ExitCode(2)
        }
        guard response.status == 200, let status = try? JSONDecoder().decode(DaemonStatus.self, from: Data(response.body)) else {
            StandardStream.err("netrelayctl: \(url)\(path) answered \(response.status), not a netrelayd status document\n")
            throw ExitCode(2)
        }
        if json {
            StandardStream.out(String(decoding: response.body, as: UTF8.self))
        } else {
            StandardStream.out(StatusTable.render(status))
        }
        if !status.ready { throw ExitCode(1) }
    }
}

/// The part of /status.json the table shows (unknown keys are ignored, as documented).
struct DaemonStatus: Decodable {
    struct Listener: Decodable {
        var name: String
        var kind: String
        var address: String
        var state: String
        var reason: String?
        var openConnections: Int?
        var counters: [String: Int]?
        /// Datagrams not answered or sent on, for every reason (the daemon's one definition).
        var dropped: Int?
        /// Lines about the listener its kind adds (a relay's targets).
        var notes: [String]?
    }

    struct Reload: Decodable {
        var successful: Bool
        var summary: String?
    }

    var version: String
    var ready: Bool
    var notReadyReason: String?
    var healthy: Bool
    var listeners: [Listener]
    var lastReload: Reload
}

enum StatusTable {
    static func render(_ s: DaemonStatus) -> String {
        var first = "netrelayd \(s.version): " + (s.ready ? "ready" : "NOT READY: \(s.notReadyReason ?? "unknown reason")")
        if !s.healthy { first += "; UNHEALTHY (event loops not answering)" }
        if let summary = s.lastReload.summary { first += "; \(summary)" }
        var rows = [["LISTENER", "KIND", "ADDRESS", "STATE", "OPEN", "TRAFFIC"]]
        for l in s.listeners {
            let open = l.openConnections.map(String.init) ?? "-"
            let traffic = l.state == "up" ? traffic(l) : (l.reason ?? "")
            rows.append([l.name, l.kind, l.address, l.state, open, traffic])
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for r in rows { for (i, cell) in r.enumerated() { widths[i] = max(widths[i], cell.count) } }
        let lines = rows.map { r in
            r.enumerated().map { i, cell in i == r.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count) }
                .joined(separator: "  ")
        }
        let notes = s.listeners.flatMap { l in (l.notes ?? []).map { "\(l.name) \($0)" } }
        return ([first] + lines + notes).joined(separator: "\n") + "\n"
    }

    /// The counters a person looks at first, for the listener's kind.
    static func traffic(_ l: DaemonStatus.Listener) -> String {
        let c = l.counters ?? [:]
        func v(_ k: String) -> Int { c[k] ?? 0 }
        let refused = c.filter { $0.key.hasPrefix("refused") }.values.reduce(0, +)
        // Told by the counters the daemon lists for the listener's kind, not by its name, so a
        // new kind reads like the ones it resembles.
        var parts: [String]
        if c["connectionsAccepted"] != nil {
            parts = ["\(v("connectionsAccepted")) accepted", "\(v("bytesIn")) bytes in", "\(v("bytesOut")) bytes out"]
            if refused > 0 { parts.append("\(refused) refused") }
        } else if c["announcements"] != nil {
            parts = ["\(v("announcements")) sent"]
            if v("missedDeadlines") > 0 { parts.append("\(v("missedDeadlines")) missed") }
        } else {
            parts = ["\(v("datagramsIn")) in", "\(v("datagramsOut")) out"]
        }
        if let dropped = l.dropped, dropped > 0 { parts.append("\(dropped) dropped") }
        return parts.joined(separator: ", ")
    }
}
