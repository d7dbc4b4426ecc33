import Foundation
import Testing

/// What crosses a real subnet: netrelayd in host 1 of a three-host namespace lab, clients in
/// hosts 2 and 3. Broadcasts stay inside the lab's bridge.
@Suite("Datagram listeners across a real subnet",
       .enabled(if: NetworkLab.unavailableReason == nil, "\(NetworkLab.unavailableReason ?? "")"),
       .serialized)
struct BroadcastSubnetTests {
    /// Starts a `listen` client in `host` and waits until it has bound its socket.
    func listener(_ lab: NetworkLab, _ host: Int, port: Int, dir: String, send: (text: String, to: String, port: Int)? = nil, duration: Double = 10) throws -> String {
        try startListener(lab, host, port: port, dir: dir, send: send, duration: duration).output
    }

    func startListener(_ lab: NetworkLab, _ host: Int, port: Int, dir: String, send: (text: String, to: String, port: Int)? = nil, duration: Double = 10) throws -> (output: String, process: Process) {
        let out = "\(dir)/host\(host)-\(port)-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        var args = ["python3", "-c", LabScripts.listen, "\(port)", "\(duration)"]
        if let send { args += [send.text, send.to, "\(send.port)"] }
        let process = try lab.spawn(host, args, output: out)
        try waitUntil(timeout: 10, "client in host \(host) ready") { LabScripts.isReady(out) }
        return (out, process)
    }

    func waitToHear(_ path: String, _ text: String, host: Int) throws {
        try waitUntil(timeout: 10, "host \(host) to hear \(text.debugDescription); heard \(LabScripts.heard(path).map(\.text))") {
            LabScripts.heard(path).contains { $0.text == text }
        }
    }

    @Test("The classic topology: what host 2 sends to host 1 is heard, prefixed, by hosts 2 and 3")
    func classicBroadcast() throws {
        let lab = try NetworkLab(hosts: 3)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-lab")
        let serverPort = Ports.free(), clientPort = Ports.free()
        let daemon = try LabDaemon(lab: lab, host: 1, config: configJSON([
            rebroadcaster(listen: "\(lab.address(1)):\(serverPort)", target: "\(lab.broadcastAddress):\(clientPort)", "\"prefix\": \"Received client data:\""),
        ]))
        let host3 = try listener(lab, 3, port: clientPort, dir: dir)
        let host2 = try listener(lab, 2, port: clientPort, dir: dir, send: ("client", lab.address(1), serverPort))
        try waitToHear(host2, "Received client data:client", host: 2)
        try waitToHear(host3, "Received client data:client", host: 3)
        #expect(LabScripts.heard(host3).first?.from == "\(lab.address(1)):\(serverPort)")
        _ = daemon
    }

    @Test("Receive and send on one port across the subnet: everyone hears the datagram once, prefixed once")
    func loopGuardOnSubnet() throws {
        let lab = try NetworkLab(hosts: 3)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-lab")
        let port = Ports.free()
        let daemon = try LabDaemon(lab: lab, host: 1, config: configJSON([
            // relayMark 0: the own-packet guard on its own (the mark would drop our echo in the kernel first).
            rebroadcaster(listen: "0.0.0.0:\(port)", target: "\(lab.broadcastAddress):\(port)", "\"prefix\": \"R:\", \"allowLoop\": true, \"relayMark\": 0"),
        ]))
        let host3 = try startListener(lab, 3, port: port, dir: dir, duration: 3)
        let host2 = try startListener(lab, 2, port: port, dir: dir, send: ("hello", lab.address(1), port), duration: 3)
        try waitToHear(host3.output, "R:hello", host: 3)
        // Let the listeners run out (bounded by their duration), then count.
        try waitUntil(timeout: 15, "clients to finish") { !host2.process.isRunning && !host3.process.isRunning }
        #expect(LabScripts.heard(host2.output).map(\.text) == ["R:hello"])
        #expect(LabScripts.heard(host3.output).map(\.text) == ["R:hello"])
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("dropped own packets=1")
    }

    @Test("An interface target is looked up again on reload: a new address on eth0 moves the broadcasts")
    func interfaceTargetFollowsReload() throws {
        let lab = try NetworkLab(hosts: 2)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-lab")
        let serverPort = Ports.free(), clientPort = Ports.free()
        let daemon = try LabDaemon(lab: lab, host: 1, config: configJSON([
            "{\"name\": \"lan\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"0.0.0.0:\(serverPort)\", \"targetInterface\": \"eth0\", \"targetPort\": \(clientPort), \"prefix\": \"I:\"}",
        ]))
        try daemon.waitForLog("rebroadcasting to \(lab.broadcastAddress):\(clientPort) (broadcast address of eth0)")
        let first = try startListener(lab, 2, port: clientPort, dir: dir, send: ("one", lab.address(1), serverPort))
        try waitToHear(first.output, "I:one", host: 2)
        first.process.terminate()

        // Host 1 moves to another subnet; host 2 joins it too.
        let newNet = "10.251.\(lab.subnet)"
        try lab.exec(1, ["ip", "addr", "flush", "dev", "eth0"])
        try lab.exec(1, ["ip", "addr", "add", "\(newNet).1/24", "broadcast", "\(newNet).255", "dev", "eth0"])
        try lab.exec(2, ["ip", "addr", "add", "\(newNet).2/24", "broadcast", "\(newNet).255", "dev", "eth0"])
        // The same configuration file, reloaded.
        daemon.signal(SIGHUP)
        try daemon.waitForLog("the broadcast target changed from \(lab.broadcastAddress):\(clientPort) to \(newNet).255:\(clientPort) (broadcast address of eth0)")
        try daemon.waitForLog("Reload 1 complete")
        let second = try listener(lab, 2, port: clientPort, dir: dir, send: ("two", "\(newNet).1", serverPort))
        try waitToHear(second, "I:two", host: 2)
        #expect(LabScripts.heard(second).first?.from == "\(newNet).1:\(serverPort)")
    }

    @Test("Hostile sources do not take the responder down: unroutable, broadcast and port-0 sources")
    func responderSurvivesUnsendableReplies() throws {
        let lab = try NetworkLab(hosts: 2)
        defer { lab.destroy() }
        let dir = Paths.makeTempDirectory("netrelayd-lab")
        let port = Ports.free()
        // Accept forged sources in host 1, as a host without reverse-path filtering would.
        for key in ["net.ipv4.conf.all.rp_filter", "net.ipv4.conf.eth0.rp_filter"] {
            try lab.exec(1, ["sysctl", "-q", "-w", "\(key)=0"])
        }
        let daemon = try LabDaemon(lab: lab, host: 1, config: configJSON([udpResponder(port: port, host: lab.address(1), "\"replyPrefix\": \"ok:\"")]))
        let target = lab.address(1)
        // A broadcast source and port 0 can never be answered: dropped, the socket stays.
        try lab.exec(2, ["python3", "-c", LabScripts.spoof, lab.broadcastAddress, "40000", target, "\(port)", "from-broadcast"])
        try lab.exec(2, ["python3", "-c", LabScripts.spoof, lab.address(2), "0", target, "\(port)", "from-port-0"])
        // No route back to 192.0.2.1: the reply fails (ENETUNREACH). Counted; the socket stays.
        try lab.exec(2, ["python3", "-c", LabScripts.spoof, "192.0.2.1", "40000", target, "\(port)", "unroutable"])
        try daemon.waitForLog("Failed to send 1 of the replies: network is unreachable")
        let client = try listener(lab, 2, port: Ports.free(), dir: dir, send: ("still there?", target, port))
        try waitToHear(client, "ok:still there?", host: 2)
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("dropped bad source=2, send errors=1")
        #expect(!daemon.log.contains("closed the socket"))
    }
}
