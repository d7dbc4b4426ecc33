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

    /// Starts the daemon with `count` listeners (`listener(i, round)`), reloads it `rounds`
    /// times, each moving every listener to the other loopback address (a restart), and returns
    /// VmRSS (KiB) at start and after each reload.
    static func rssAcrossReloads(count: Int, rounds: Int, _ listener: (Int, Int, String) -> String) throws -> [Int] {
        LargeConfigTests.raiseDescriptorLimit()
        func config(_ round: Int) -> String {
            let host = round % 2 == 0 ? "127.0.0.1" : "127.0.0.2"
            return "{\"logLevel\": \"notice\", \"listeners\": [" + (0..<count).map { listener($0, round, host) }.joined(separator: ", ") + "]}"
        }
        let daemon = try DaemonProcess.launch(config: config(0), environment: ["NETRELAYD_KEEP_STARTUP_PAGES": "1"], logLevel: "notice")
        defer { daemon.stop() }
        var rss: [Int] = [daemon.rssKiB]
        for round in 1...rounds {
            let mark = try daemon.reload(with: config(round))
            let ready = try daemon.waitReady(after: mark, timeout: 60)
            let status = NotifySocket.value("STATUS", in: ready) ?? ""
            guard status.contains("reload \(round) ok (0 added, \(count) changed, 0 removed") else {
                throw TestFailure("reload \(round): \(status)\n\(daemon.log.suffix(2000))")
            }
            rss.append(daemon.rssKiB)
        }
        return rss
    }

    @Test("30 reloads, each restarting 200 datagram listeners into another kind on another address: RSS after reload 30 within 2 MiB of after reload 3")
    func restartsLeaveNothing() throws {
        let announcePort = Ports.free()
        let rss = try Self.rssAcrossReloads(count: 200, rounds: 30) { i, round, host in
            Self.datagramListener(i, kind: i + round, host: host, announcePort: announcePort)
        }
        print("restartsLeaveNothing: RSS (KiB) at start and after each reload: \(rss)")
        #expect(rss[30] - rss[3] < 2048, "RSS grew \(rss[30] - rss[3]) KiB from reload 3 to 30: \(rss)")
    }

    @Test("2,000 datagram listeners moved to another address five times: RSS after reload 5 within 2 MiB of after reload 3")
    func manyListenersMoved() throws {
        let rss = try Self.rssAcrossReloads(count: 2000, rounds: 5) { i, _, host in
            Self.datagramListener(i, kind: i % 2, host: host, announcePort: 0)
        }
        print("manyListenersMoved: RSS (KiB) at start and after each reload: \(rss)")
        #expect(rss[5] - rss[3] < 2048, "RSS grew \(rss[5] - rss[3]) KiB from reload 3 to 5: \(rss)")
    }
}
