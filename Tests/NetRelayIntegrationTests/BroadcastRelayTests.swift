import Foundation
import Testing

/// The rebroadcaster as a broadcast relay between subnets (`targets`): netrelayd in the relay
/// namespace of a `RoutedLab`, with one interface in each subnet; clients in the subnets' hosts.
@Suite("Broadcast relay between subnets",
       .enabled(if: NetworkLab.unavailableReason == nil, "\(NetworkLab.unavailableReason ?? "")"),
       .serialized)
struct BroadcastRelayTests {
    /// Sends each TEXT to ADDR:PORT from one ephemeral socket with SO_BROADCAST, in order.
    /// Usage: TEXT ADDR PORT [TEXT ADDR PORT ...]
    static let send = #"""
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
a = sys.argv[1:]
for i in range(0, len(a), 3):
    s.sendto(a[i].encode(), (a[i + 1], int(a[i + 2])))
print(json.dumps({"sent": len(a) // 3, "from": "%s:%d" % s.getsockname()}), flush=True)
"""#

    /// Like `LabScripts.listen`, and prints each datagram's destination address (IP_PKTINFO).
    /// Usage: PORT DURATION
    static let listenWithDestination = #"""
import json, signal, socket, struct, sys, time
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
IP_PKTINFO = 8  # Linux; the socket module has no name for it before Python 3.12
port, duration = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
s.bind(("0.0.0.0", port))
print(json.dumps({"ready": True}), flush=True)
end = time.time() + duration
while True:
    left = end - time.time()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        data, anc, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(12))
    except socket.timeout:
        break
    to = "?"
    for level, kind, value in anc:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            to = socket.inet_ntoa(value[8:12])
    print(json.dumps({"from": "%s:%d" % addr, "text": data.decode(errors="replace") + " to " + to}), flush=True)
"""#

    func relay(port: Int, subnets: [Int], _ lab: RoutedLab, _ options: String = "") -> String {
        let targets = subnets.map { "{\"interface\": \"\(lab.relayInterface($0))\", \"port\": \(port)}" }.joined(separator: ", ")
        return "{\"name\": \"relay\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"0.0.0.0:\(port)\", \"targets\": [\(targets)]\(options.isEmpty ? "" : ", " + options)}"
    }

    /// A `LabScripts.listen` client in host (s, h), bound to 0.0.0.0:port, ready when this returns.
    func listener(_ lab: RoutedLab, _ s: Int, _ h: Int, port: Int, dir: String, duration: Double) throws -> (output: String, process: Process) {
        let out = "\(dir)/s\(s)h\(h)-\(port)-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        let p = try lab.spawn(namespace: lab.namespace(s, h), ["python3", "-c", LabScripts.listen, "\(port)", "\(duration)"], output: out)
        try waitUntil(timeout: 10, "client in subnet \(s) host \(h) ready") { LabScripts.isReady(out) }
        return (out, p)
    }

    /// Several clients started together, then waited for together: on a loaded machine, starting
    /// them one after the other can take longer than the first one's duration.
    func listeners(_ lab: RoutedLab, _ hosts: [(Int, Int)], port: Int, dir: String, duration: Double) throws -> [(output: String, process: Process)] {
        let started = try hosts.map { s, h -> (output: String, process: Process) in
            let out = "\(dir)/s\(s)h\(h)-\(port)-\(UInt32.random(in: 0...UInt32.max)).jsonl"
            return (out, try lab.spawn(namespace: lab.namespace(s, h), ["python3", "-c", LabScripts.listen, "\(port)", "\(duration)"], output: out))
        }
        try waitUntil(timeout: 15, "clients ready") { started.allSatisfy { LabScripts.isReady($0.output) } }
        return started
    }

    func send(_ lab: RoutedLab, from s: Int, _ h: Int, _ datagrams: [(String, String, Int)]) throws {
        try lab.exec(s, h, ["python3", "-c", Self.send] + datagrams.flatMap { [$0.0, $0.1, "\($0.2)"] })
    }

    /// Clients run for a fixed time (long enough for all of them to start on a loaded machine, and
    /// to catch a duplicate that comes late); this waits until they are done.
    func finish(_ clients: [(output: String, process: Process)]) throws {
        try waitUntil(timeout: 30, "clients to finish") { clients.allSatisfy { !$0.process.isRunning } }
    }

    @Test("Two subnets: a broadcast from A (limited and subnet) is heard exactly once in every host of B; A hears no relayed copy")
    func twoSubnets() throws {
        let lab = try RoutedLab(subnets: 2, hostsPerSubnet: 2)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-relaylab")
        let port = Ports.free()
        let daemon = try RelayLabDaemon(lab: lab, config: configJSON([relay(port: port, subnets: [1, 2], lab)]))
        try daemon.waitForLog("rebroadcasting to \(lab.broadcastAddress(1)):\(port) (broadcast address of eth1), \(lab.broadcastAddress(2)):\(port) (broadcast address of eth2)")
        let clients = try listeners(lab, [(1, 2), (2, 1), (2, 2)], port: port, dir: dir, duration: 8)
        let (a2, b1, b2) = (clients[0], clients[1], clients[2])
        try send(lab, from: 1, 1, [("limited", "255.255.255.255", port), ("subnet", lab.broadcastAddress(1), port)])
        try finish([a2, b1, b2])

        for b in [b1, b2] {
            let heard = LabScripts.heard(b.output)
            #expect(heard.map(\.text) == ["limited", "subnet"])
            #expect(heard.allSatisfy { $0.from == "\(lab.relayAddress(2)):\(port)" })
        }
        // A hears the originals from host 1, and nothing from the relay.
        let inA = LabScripts.heard(a2.output)
        #expect(inA.map(\.text) == ["limited", "subnet"])
        #expect(inA.allSatisfy { $0.from.hasPrefix("\(lab.address(1, 1)):") })

        // The kernel's drop counter is read once a second: wait for the echoes too.
        let stats = try daemon.statistics(of: "relay") { $0.contains("datagrams out=2") && $0.contains("heard back") }
        #expect(stats.contains("datagrams in=2, datagrams out=2"))
        #expect(stats.contains("not sent back out of the ingress interface=2"))
        // Our two relayed copies came back to our socket and the relay mark dropped them: own echoes, not drops.
        #expect(stats.contains("own broadcasts heard back (dropped in kernel)=2"))
        #expect(!stats.contains("dropped in kernel (relay mark or full queue)"))
        #expect(stats.contains("targets: eth1:\(port) (\(lab.broadcastAddress(1)):\(port)) sent=0 errors=0, eth2:\(port) (\(lab.broadcastAddress(2)):\(port)) sent=2 errors=0"))
        #expect(!stats.contains("send errors"))
    }

    @Test("Three subnets: a datagram from A reaches B and C once each and never comes back to A")
    func threeSubnets() throws {
        let lab = try RoutedLab(subnets: 3, hostsPerSubnet: 2)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-relaylab")
        let port = Ports.free()
        let daemon = try RelayLabDaemon(lab: lab, config: configJSON([relay(port: port, subnets: [1, 2, 3], lab)]))
        let clients = try listeners(lab, [(1, 2), (2, 1), (2, 2), (3, 1), (3, 2)], port: port, dir: dir, duration: 8)
        try send(lab, from: 1, 1, [("from-A", lab.broadcastAddress(1), port)])
        try finish(clients)

        #expect(LabScripts.heard(clients[0].output).map(\.text) == ["from-A"])
        #expect(LabScripts.heard(clients[0].output).first?.from.hasPrefix("\(lab.address(1, 1)):") == true)
        for (k, s) in [(1, 2), (2, 2), (3, 3), (4, 3)] {
            #expect(LabScripts.heard(clients[k].output).map { "\($0.from) \($0.text)" } == ["\(lab.relayAddress(s)):\(port) from-A"])
        }
        let stats = try daemon.statistics(of: "relay") { $0.contains("datagrams out=2") }
        #expect(stats.contains("datagrams in=1, datagrams out=2"))
        #expect(stats.contains("eth1:\(port) (\(lab.broadcastAddress(1)):\(port)) sent=0 errors=0, eth2:\(port) (\(lab.broadcastAddress(2)):\(port)) sent=1 errors=0, eth3:\(port) (\(lab.broadcastAddress(3)):\(port)) sent=1 errors=0"))
    }

    @Test("An interface going down between reloads: its target is skipped (log, STATUS, statistics), the others are served; it comes back at the next reload")
    func interfaceDownBetweenReloads() throws {
        let lab = try RoutedLab(subnets: 3, hostsPerSubnet: 1)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-relaylab")
        let port = Ports.free()
        let daemon = try RelayLabDaemon(lab: lab, config: configJSON([relay(port: port, subnets: [1, 2, 3], lab)]))

        try lab.inRelay(["ip", "link", "set", "eth3", "down"])
        daemon.signal(SIGHUP)
        try daemon.waitForLog("broadcast-rebroadcaster \"relay\" on 0.0.0.0:\(port): skipping target eth3:\(port): interface \"eth3\" is down; the other targets are served, and this one is looked up again at the next reload")
        try daemon.waitForLog("Reload 1 complete")
        _ = try daemon.notify.wait(timeout: 10, after: 0, "STATUS naming the skipped target") {
            NotifySocket.value("STATUS", in: $0)?.contains("broadcast-rebroadcaster \"relay\" on 0.0.0.0:\(port) skips eth3:\(port) (interface \"eth3\" is down)") == true
        }
        let b = try listener(lab, 2, 1, port: port, dir: dir, duration: 6)
        try send(lab, from: 1, 1, [("while-down", lab.broadcastAddress(1), port)])
        try finish([b])
        #expect(LabScripts.heard(b.output).map(\.text) == ["while-down"])
        let down = try daemon.statistics(of: "relay") { $0.contains("datagrams out=1") }
        #expect(down.contains("eth3:\(port) skipped (interface \"eth3\" is down), sent=0 errors=0"))
        #expect(!down.contains("send errors"))

        try lab.inRelay(["ip", "link", "set", "eth3", "up"])
        daemon.signal(SIGHUP)
        try daemon.waitForLog("broadcast-rebroadcaster \"relay\" on 0.0.0.0:\(port): target eth3:\(port) is served again: \(lab.broadcastAddress(3)):\(port)")
        try daemon.waitForLog("Reload 2 complete")
        let c = try listener(lab, 3, 1, port: port, dir: dir, duration: 6)
        try send(lab, from: 1, 1, [("after-up", lab.broadcastAddress(1), port)])
        try finish([c])
        #expect(LabScripts.heard(c.output).map(\.text) == ["after-up"])
        let up = try daemon.statistics(of: "relay") { $0.contains("datagrams out=3") }
        #expect(up.contains("eth3:\(port) (\(lab.broadcastAddress(3)):\(port)) sent=1 errors=0"))
    }

    @Test("listenInterfaces: datagrams from another interface are dropped and counted")
    func listenInterfaces() throws {
        let lab = try RoutedLab(subnets: 2, hostsPerSubnet: 1)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-relaylab")
        let port = Ports.free()
        let daemon = try RelayLabDaemon(lab: lab, config: configJSON([relay(port: port, subnets: [1, 2], lab, "\"listenInterfaces\": [\"eth1\"]")]))
        let a = try listener(lab, 1, 1, port: port, dir: dir, duration: 6)
        try send(lab, from: 2, 1, [("from-B", lab.broadcastAddress(2), port)])
        try finish([a])
        #expect(LabScripts.heard(a.output).isEmpty)
        let stats = try daemon.statistics(of: "relay") { $0.contains("dropped from interfaces not in listenInterfaces=1") }
        #expect(stats.contains("datagrams in=1, dropped=1, dropped from interfaces not in listenInterfaces=1"))
    }

    @Test("A limited-broadcast target goes out of its interface only, to 255.255.255.255; a subnet target to the subnet's broadcast address")
    func limitedBroadcastOutOfAnInterface() throws {
        let lab = try RoutedLab(subnets: 3, hostsPerSubnet: 1)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-relaylab")
        let port = Ports.free()
        let targets = "[{\"interface\": \"eth2\", \"port\": \(port), \"broadcast\": \"limited\"}, {\"interface\": \"eth3\", \"port\": \(port)}]"
        let daemon = try RelayLabDaemon(lab: lab, config: configJSON([
            "{\"name\": \"relay\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"0.0.0.0:\(port)\", \"targets\": \(targets)}",
        ]))
        try daemon.waitForLog("rebroadcasting to 255.255.255.255:\(port) (limited broadcast out of eth2), \(lab.broadcastAddress(3)):\(port) (broadcast address of eth3)")
        var clients: [(output: String, process: Process)] = []
        for s in 1...3 {
            let out = "\(dir)/s\(s)-\(port).jsonl"
            let p = try lab.spawn(namespace: lab.namespace(s, 1), ["python3", "-c", Self.listenWithDestination, "\(port)", "8"], output: out)
            clients.append((out, p))
        }
        try waitUntil(timeout: 15, "clients ready") { clients.allSatisfy { LabScripts.isReady($0.output) } }
        // Sent to the relay's own address in A: every target gets it, none is A's.
        try send(lab, from: 1, 1, [("x", lab.relayAddress(1), port)])
        try finish(clients)
        #expect(LabScripts.heard(clients[0].output).isEmpty)
        #expect(LabScripts.heard(clients[1].output).map { "\($0.from) \($0.text)" } == ["\(lab.relayAddress(2)):\(port) x to 255.255.255.255"])
        #expect(LabScripts.heard(clients[2].output).map { "\($0.from) \($0.text)" } == ["\(lab.relayAddress(3)):\(port) x to \(lab.broadcastAddress(3))"])
        let stats = try daemon.statistics(of: "relay") { $0.contains("datagrams out=2") }
        #expect(stats.contains("targets: limited@eth2:\(port) (255.255.255.255:\(port)) sent=1 errors=0, eth3:\(port) (\(lab.broadcastAddress(3)):\(port)) sent=1 errors=0"))
    }
}
