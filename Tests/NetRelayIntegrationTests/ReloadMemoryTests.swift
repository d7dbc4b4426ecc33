import Foundation
import Testing

/// A daemon that config management reloads every few minutes for months: a reload that
/// restarts listeners must leave nothing behind. Measured as the operator sees it (VmRSS),
/// with the start-up pages kept (NETRELAYD_KEEP_STARTUP_PAGES=1) so that their release after a
/// reload does not hide or fake a trend.
@Suite("Memory across reloads")
struct ReloadMemoryTests {
    /// The datagram kinds, each on a fresh address or port every time it is written.
    static func datagramListener(_ i: Int, kind: Int, host: String, announcePort: Int) -> String {
        switch kind % 3 {
        case 0:
            return "{\"name\": \"l\(i)\", \"kind\": \"udp-responder\", \"listen\": \"\(host):0\"}"
        case 1:
            return "{\"name\": \"l\(i)\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"\(host):0\", \"target\": \"127.255.255.255:9\"}"
        default:
            // A port nobody listens on; an hour between announcements.
            return "{\"name\": \"l\(i)\", \"kind\": \"multicast-announcer\", \"group\": \"239.255.24.24\", \"port\": \(announcePort), \"interval\": 3600, \"interface\": \"lo\"}"
        }
    }

    /// Reloads `daemon` with `config`, which restarts all `count` listeners, and returns VmRSS
    /// (KiB) once it is ready again.
    static func reload(_ daemon: DaemonProcess, _ config: String, number: Int, count: Int) throws -> Int {
        let mark = try daemon.reload(with: config)
        let ready = try daemon.waitReady(after: mark, timeout: 60)
        let status = NotifySocket.value("STATUS", in: ready) ?? ""
        guard status.contains("reload \(number) ok (0 added, \(count) changed, 0 removed") else { throw TestFailure("reload \(number): \(status)\n\(daemon.log.suffix(2000))") }
        return daemon.rssKiB
    }

    @Test("30 reloads, each restarting 200 datagram listeners into another kind on another address: RSS after reload 30 within 2 MiB of after reload 3")
    func restartsLeaveNothing() throws {
        LargeConfigTests.raiseDescriptorLimit()
        let announcePort = Ports.free()
        func config(_ round: Int) -> String {
            let host = round % 2 == 0 ? "127.0.0.1" : "127.0.0.2"
            return "{\"logLevel\": \"notice\", \"listeners\": [" + (0..<200).map { Self.datagramListener($0, kind: $0 + round, host: host, announcePort: announcePort) }.joined(separator: ", ") + "]}"
        }
        let daemon = try DaemonProcess.launch(config: config(0), environment: ["NETRELAYD_KEEP_STARTUP_PAGES": "1"], logLevel: "notice")
        defer { daemon.stop() }
        var rss: [Int] = [daemon.rssKiB]
        for round in 1...30 {
            rss.append(try Self.reload(daemon, config(round), number: round, count: 200))
        }
        print("restartsLeaveNothing: RSS (KiB) at start and after each reload: \(rss)")
        #expect(rss[30] - rss[3] < 2048, "RSS grew \(rss[30] - rss[3]) KiB from reload 3 to 30: \(rss)")
    }

    @Test("2,000 datagram listeners moved to another address five times: RSS after reload 5 within 2 MiB of after reload 3")
    func manyListenersMoved() throws {
        LargeConfigTests.raiseDescriptorLimit()
        func config(_ round: Int) -> String {
            let host = round % 2 == 0 ? "127.0.0.1" : "127.0.0.2"
            return "{\"logLevel\": \"notice\", \"listeners\": [" + (0..<2000).map { Self.datagramListener($0, kind: $0 % 2, host: host, announcePort: 0) }.joined(separator: ", ") + "]}"
        }
        let daemon = try DaemonProcess.launch(config: config(0), environment: ["NETRELAYD_KEEP_STARTUP_PAGES": "1"], logLevel: "notice")
        defer { daemon.stop() }
        var rss: [Int] = [daemon.rssKiB]
        for round in 1...5 {
            rss.append(try Self.reload(daemon, config(round), number: round, count: 2000))
        }
        print("manyListenersMoved: RSS (KiB) at start and after each reload: \(rss)")
        #expect(rss[5] - rss[3] < 2048, "RSS grew \(rss[5] - rss[3]) KiB from reload 3 to 5: \(rss)")
    }
}
