import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(
    "netrelayctl listen against a loopback announcer",
    .enabled(if: LoopbackMulticast.works, "IPv4 multicast over lo (joined on 127.0.0.1, sent with IP_MULTICAST_IF 127.0.0.1) does not work on this kernel")
)
struct ListenTests {
    /// A group per test, so that parallel tests do not hear each other.
    private static func group() -> String { "239.255.\(Int.random(in: 1...254)).\(Int.random(in: 1...254))" }

    @Test("json announcements: seq in every event, gaps in --stats", arguments: ["lo", "127.0.0.1"])
    func jsonWithStats(interface: String) async throws {
        let group = Self.group()
        let port = Ports.free()
        let announcer = try await LoopbackServers.announcer(group: group, port: port, format: .json(skipEvery: 4))
        let r = try await ctl("listen", "\(group):\(port)", "--interface", interface, "--count", "6", "--stats", "--timeout", "15", "--json")
        try await announcer.close()

        #expect(r.status == 0, "stderr: \(r.stderr)")
        let joined = try #require(r.events("joined").first)
        #expect(joined["group"] as? String == group)
        #expect(joined["interface"] as? String == "lo")
        #expect(joined["interfaceAddress"] as? String == "127.0.0.1")
        let announcements = r.events("announcement")
        #expect(announcements.count == 6)
        #expect(announcements.allSatisfy { $0["seq"] is Int && ($0["from"] as? String)?.hasPrefix("127.0.0.1:") == true })
        let stats = try #require(r.events("stats").first)
        #expect(stats["count"] as? Int == 6)
        #expect(stats["senders"] as? Int == 1)
        #expect(stats["meanInterval"] is Double)
        // Every 4th number is skipped, so 6 in a row span at least one gap.
        let missing = try #require(stats["missing"] as? Int)
        #expect(missing >= 1)
        let gaps = try #require(stats["gaps"] as? [[String: Any]])
        #expect(gaps.count == missing)
        #expect(gaps.allSatisfy { ($0["next"] as? Int ?? 0) - ($0["after"] as? Int ?? 0) == 2 })
        #expect(r.events.last?["event"] as? String == "stats")
    }

    @Test("announcements without seq: --stats reports no gaps at all")
    func textFormatStats() async throws {
        let group = Self.group()
        let port = Ports.free()
        let announcer = try await LoopbackServers.announcer(group: group, port: port, format: .text)
        let r = try await ctl("listen", "\(group):\(port)", "--interface", "lo", "--count", "3", "--stats", "--timeout", "15")
        try await announcer.close()

        #expect(r.status == 0, "stderr: \(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("announcement from 127.0.0.1:") && $0.hasSuffix("(24 bytes): 2026-11-27T14:03:04.123Z") }.count == 3)
        let stats = try #require(lines.last)
        #expect(stats.hasPrefix("stats: 3 heard from 1 sender over "))
        #expect(stats.hasSuffix("no sequence numbers (only the json format has them), so gaps are unknown"))
    }

    @Test("printed as it arrives; Ctrl-C ends it with stats and exit 0")
    func streamsAndStopsOnSignal() async throws {
        let group = Self.group()
        let port = Ports.free()
        let announcer = try await LoopbackServers.announcer(group: group, port: port, format: .json(skipEvery: 0))
        let child = try startCtl("listen", "\(group):\(port)", "--interface", "lo", "--stats", "--json")
        let arrived = await child.waitForOutput(seconds: 10) { $0.contains("\"event\":\"announcement\"") }
        #expect(arrived, "no announcement printed while netrelayctl was still running")
        child.signal(SIGINT)
        let r = await child.wait(seconds: 10)
        try await announcer.close()

        #expect(!r.killed)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let stats = try #require(r.events("stats").first)
        #expect((stats["count"] as? Int ?? 0) >= 1)
        #expect(stats["missing"] as? Int == 0)
    }

    @Test("nobody announcing: --count not reached by --timeout, exit 1")
    func timeout() async throws {
        let group = Self.group()
        let port = Ports.free()
        let r = try await ctl("listen", "\(group):\(port)", "--interface", "lo", "--count", "2", "--timeout", "0.5", "--json")
        #expect(r.status == 1)
        #expect(r.reason == "netrelayctl: timed out after 0.5 s: heard 0 of 2 announcements on \(group):\(port)")
        #expect(r.events("timeout").count == 1)
    }
}

@Suite("netrelayctl listen, IPv6")
struct ListenIPv6Tests {
    @Test("joins an IPv6 group on lo by name (lo cannot send IPv6 multicast here, so it times out)")
    func joinsIPv6() async throws {
        let port = Ports.free()
        let r = try await ctl("listen", "[ff02::1:3]:\(port)", "--interface", "lo", "--timeout", "0.3", "--json")
        #expect(r.status == 1, "stdout: \(r.stdout) stderr: \(r.stderr)")
        let joined = try #require(r.events("joined").first)
        #expect(joined["group"] as? String == "ff02::1:3")
        #expect(joined["local"] as? String == "[::]:\(port)")
        #expect(r.reason == "netrelayctl: timed out after 0.3 s: no announcement on [ff02::1:3]:\(port)")
    }
}
