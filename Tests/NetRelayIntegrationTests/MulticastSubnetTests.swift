import Foundation
import Testing

/// The multicast announcer across a real (virtual) subnet: three network namespaces on a
/// bridge (`NetworkLab`), the daemon announcing in host 1 through its eth0.
@Suite("Multicast announcer across a subnet", .enabled(if: NetworkLab.unavailableReason == nil, "\(NetworkLab.unavailableReason ?? "")"))
struct MulticastSubnetTests {
    static func receiver(_ lab: NetworkLab, _ host: Int, _ label: String, group: String, port: Int, join: Bool = true, multicastAll: Int? = nil) throws -> MulticastReceiver {
        let v6 = group.contains(":")
        return try MulticastReceiver(label, group: group, port: port, interface: v6 ? "eth0" : lab.address(host), join: join, multicastAll: multicastAll,
                                     prefix: ["ip", "netns", "exec", lab.namespace(host)])
    }

    /// The seqs of messages, checked to be consecutive.
    static func consecutiveSeqs(_ messages: [MulticastReceiver.Message], _ who: String, sourceLocation: SourceLocation = #_sourceLocation) -> [Int] {
        let seqs = messages.compactMap(\.seq)
        let jumps = zip(seqs, seqs.dropFirst()).filter { $1 != $0 + 1 }
        #expect(jumps.isEmpty, "\(who): every announcement, in order; jumps: \(jumps)", sourceLocation: sourceLocation)
        return seqs
    }

    @Test("Hosts that joined get every announcement; a host that did not join gets none")
    func membersGetEveryAnnouncement() throws {
        let lab = try NetworkLab(hosts: 3)
        defer { lab.destroy() }
        let group = testGroup(), port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([
            multicastAnnouncer(group: group, port: port, "\"interval\": 0.1, \"interface\": \"eth0\", \"joinGroup\": true, \"format\": \"json\""),
        ]), namespace: lab.namespace(1))
        defer { daemon.stop() }
        #expect(daemon.log.contains("interface eth0 (\(lab.address(1)))"))

        // Host 3 has no member yet: its receiver, bound to the port without joining, hears nothing.
        let h2 = try Self.receiver(lab, 2, "host 2 (joined)", group: group, port: port)
        let h3bystander = try Self.receiver(lab, 3, "host 3 (not joined)", group: group, port: port, join: false)
        defer { h2.stop(); h3bystander.stop() }
        try h2.waitReady()
        try h3bystander.waitReady()
        _ = Self.consecutiveSeqs(try h2.waitForMessages(15), "host 2")
        #expect(h3bystander.messages.isEmpty, "host 3 did not join, yet received: \(h3bystander.messages.map(\.text))")

        // Now host 3 joins too, and keeps a socket that did not join but clears IP_MULTICAST_ALL.
        let h3 = try Self.receiver(lab, 3, "host 3 (joined)", group: group, port: port)
        let h3strict = try Self.receiver(lab, 3, "host 3 (not joined, IP_MULTICAST_ALL=0)", group: group, port: port, join: false, multicastAll: 0)
        defer { h3.stop(); h3strict.stop() }
        try h3.waitReady()
        try h3strict.waitReady()
        let received3 = try h3.waitForMessages(15)
        let seqs3 = Self.consecutiveSeqs(received3, "host 3")
        let seqs2 = Self.consecutiveSeqs(try h2.waitForMessages(h2.messages.count + 5), "host 2")
        // Over the span both were listening, both got exactly the same announcements.
        let common = max(seqs2.first!, seqs3.first!)...min(seqs2.last!, seqs3.last!)
        #expect(common.count >= 10)
        #expect(seqs2.filter(common.contains) == Array(common) && seqs3.filter(common.contains) == Array(common))
        #expect(h3strict.messages.isEmpty, "a socket that did not join (IP_MULTICAST_ALL=0) received: \(h3strict.messages.count)")
        // Linux's default IP_MULTICAST_ALL=1: once any socket on host 3 joined, a socket bound
        // to the port hears the group even though it did not join itself. Receivers that care
        // (netrelayctl listen) should clear it.
        try waitUntil(timeout: 10, "the non-joined default socket on host 3 to hear the group once host 3 is a member") { !h3bystander.messages.isEmpty }
        // joinGroup: host 1 is a member on eth0.
        let octets = group.split(separator: ".").map { UInt8($0)! }
        let hex = octets.reversed().map { String(format: "%02X", $0) }.joined()
        let igmp = try lab.exec(1, ["cat", "/proc/net/igmp"])
        let eth0Section = igmp.components(separatedBy: "\n").drop { !$0.contains("eth0") }.prefix { !$0.hasPrefix("1\t") }
        #expect(eth0Section.contains { $0.contains(hex) }, "group \(group) on host 1's eth0 in /proc/net/igmp:\n\(igmp)")
    }

    @Test("IPv6: announcements to ff02::1:xxxx through eth0 (IPV6_MULTICAST_IF by index) reach the hosts that joined")
    func ipv6AcrossTheSubnet() throws {
        let lab = try NetworkLab(hosts: 3)
        defer { lab.destroy() }
        // Each eth0 needs its link-local address (after duplicate address detection) to send
        // from and to report membership with.
        for h in 1...3 {
            try waitUntil(timeout: 15, "host \(h)'s link-local IPv6 address") {
                let out = (try? lab.exec(h, ["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"])) ?? ""
                return out.contains("fe80::") && !out.contains("tentative")
            }
        }
        let group = "ff02::1:\(String(Int.random(in: 0x1000...0xfffe), radix: 16))", port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([
            multicastAnnouncer(group: group, port: port, "\"interval\": 0.1, \"interface\": \"eth0\", \"format\": \"json\", \"ttl\": 1"),
        ]), namespace: lab.namespace(1))
        defer { daemon.stop() }
        let h2 = try Self.receiver(lab, 2, "host 2", group: group, port: port)
        let h3 = try Self.receiver(lab, 3, "host 3", group: group, port: port)
        let h3strict = try Self.receiver(lab, 3, "host 3 (not joined, IPV6_MULTICAST_ALL=0)", group: group, port: port, join: false, multicastAll: 0)
        defer { h2.stop(); h3.stop(); h3strict.stop() }
        for rx in [h2, h3, h3strict] { try rx.waitReady() }
        _ = Self.consecutiveSeqs(try h2.waitForMessages(10), "host 2")
        _ = Self.consecutiveSeqs(try h3.waitForMessages(10), "host 3")
        #expect(h3strict.messages.isEmpty)
        #expect(h2.messages[0].source.hasPrefix("fe80::"), "sent from host 1's link-local address: \(h2.messages[0].source)")
        let options = try multicastSocketOptions(pid: daemon.pid)
        let socket = try #require(options.values.first { $0["family"] as? String == "ipv6" }, "sockets: \(options)")
        let index = Int(try lab.exec(1, ["cat", "/sys/class/net/eth0/ifindex"]).trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(socket["ifindex"] as? Int == index)
        #expect(socket["hops"] as? Int == 1)
    }

    @Test("The interface goes down and comes back: the error is logged, a new socket takes over, the stream continues")
    func survivesInterfaceDown() throws {
        let lab = try NetworkLab(hosts: 2)
        defer { lab.destroy() }
        let group = testGroup(), port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([
            multicastAnnouncer(group: group, port: port, "\"interval\": 0.1, \"interface\": \"eth0\", \"format\": \"json\""),
        ]), namespace: lab.namespace(1))
        defer { daemon.stop() }
        let h2 = try Self.receiver(lab, 2, "host 2", group: group, port: port)
        defer { h2.stop() }
        try h2.waitReady()
        try h2.waitForMessages(5)
        try lab.exec(1, ["ip", "link", "set", "eth0", "down"])
        try daemon.waitForLog("Failed to send announcement to \(group):\(port): network is unreachable")
        try daemon.waitForLog("closed after a send error; opening a new one in 1 s")
        Thread.sleep(forTimeInterval: 1.5)
        try lab.exec(1, ["ip", "link", "set", "eth0", "up"])
        let lastBefore = try #require(h2.messages.last?.seq)
        // Up again: the 224.0.0.0/4 route went with the link, but IP_MULTICAST_IF needs none.
        let after = try h2.waitForMessages(h2.messages.count + 5, timeout: 30).filter { ($0.seq ?? 0) > lastBefore }
        #expect(after.count >= 5)
        // The sequence went on from where it was (the failed sends are the gap), not from 0.
        #expect((after.first?.seq ?? 0) > lastBefore && (after.first?.seq ?? 0) < lastBefore + 100)
        _ = Self.consecutiveSeqs(after, "host 2 after the outage")
        try daemon.waitForLog("Announcing again: multicast-announcer \"time\" to \(group):\(port)")
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("send errors=")
    }
}
