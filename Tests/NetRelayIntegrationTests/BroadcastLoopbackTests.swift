import Foundation
import Testing

/// The broadcast-rebroadcaster through the real binary, broadcasting only on loopback
/// (127.255.255.255, the `lo` subnet): nothing leaves the machine.
@Suite("Broadcast rebroadcaster on loopback")
struct BroadcastLoopbackTests {
    @Test("Control: without SO_BROADCAST the kernel refuses a send to 127.255.255.255 (EACCES)")
    func kernelNeedsBroadcastOption() throws {
        let plain = try UDPTestSocket()
        #expect(plain.send("x", to: "127.255.255.255", port: Ports.free()) == EACCES)
    }

    @Test("Rebroadcasts prefix + payload to 127.255.255.255: the daemon sets SO_BROADCAST", arguments: ["0.0.0.0", "127.255.255.255"])
    func rebroadcast(receiverAddress: String) throws {
        let listenPort = Ports.free(), targetPort = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([
            rebroadcaster(listen: "127.0.0.1:\(listenPort)", target: "127.255.255.255:\(targetPort)", "\"prefix\": \"Received client data:\""),
        ]))
        defer { daemon.stop() }
        let receiver = try UDPTestSocket(bind: receiverAddress, port: targetPort)
        let client = try UDPTestSocket()
        client.send("client", to: "127.0.0.1", port: listenPort)
        let heard = try #require(receiver.receive())
        #expect(heard.text == "Received client data:client")
        // Sent from the listening socket, as the classic server does.
        #expect(heard.port == listenPort)
        let stats = try daemon.statistics(of: "bcast") { $0.contains("datagrams out=1") }
        #expect(!stats.contains("send errors"))
    }

    @Test("Receive and send on the same port (allowLoop, relayMark 0): the own-packet guard adds the prefix once, not forever")
    func ownPacketGuard() throws {
        let port = Ports.free()
        // Without the relay mark, which would drop the returning rebroadcast in the kernel first (next test).
        let daemon = try DaemonProcess.launch(config: configJSON([
            rebroadcaster(listen: "0.0.0.0:\(port)", target: "127.255.255.255:\(port)", "\"prefix\": \"R:\", \"allowLoop\": true, \"relayMark\": 0"),
        ]))
        defer { daemon.stop() }
        let client = try UDPTestSocket()
        client.send("hello", to: "127.0.0.1", port: port)
        // The daemon hears its own rebroadcast (it is bound to 0.0.0.0 on the target port) and drops it.
        let stats = try daemon.statistics(of: "bcast") { $0.contains("dropped own packets=1") }
        #expect(stats.contains("datagrams in=2"))
        #expect(stats.contains("datagrams out=1"))
        // Nothing keeps circulating.
        Thread.sleep(forTimeInterval: 0.5)
        let later = try daemon.statistics(of: "bcast")
        #expect(later.contains("datagrams in=2, datagrams out=1"))
    }

    @Test("Receive and send on the same port with the relay mark: our rebroadcast never reaches the handler, and is counted")
    func ownRebroadcastDroppedByMark() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([
            rebroadcaster(listen: "0.0.0.0:\(port)", target: "127.255.255.255:\(port)", "\"prefix\": \"R:\", \"allowLoop\": true"),
        ]))
        defer { daemon.stop() }
        let client = try UDPTestSocket()
        client.send("hello", to: "127.0.0.1", port: port)
        let stats = try daemon.statistics(of: "bcast") { $0.contains("dropped in kernel (relay mark or full queue)=1") }
        #expect(stats.contains("datagrams in=1, datagrams out=1"))
        #expect(!stats.contains("dropped own packets"))
    }

    @Test("A loop is refused without allowLoop, and the error says why")
    func loopRefused() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess(config: configJSON([
            rebroadcaster(listen: "0.0.0.0:\(port)", target: "127.255.255.255:\(port)"),
        ]))
        try daemon.start()
        defer { daemon.stop() }
        #expect(daemon.waitForExit() != 0)
        try daemon.waitForLog("would loop: the rebroadcaster hears its own broadcast and adds the prefix again, forever")
    }

    @Test("An unknown target interface is a start error that names it")
    func unknownInterface() throws {
        let port = Ports.free(), target = Ports.free()
        let daemon = try DaemonProcess(config: configJSON([
            "{\"name\": \"lan\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"127.0.0.1:\(port)\", \"targetInterface\": \"eth9x\", \"targetPort\": \(target)}",
        ]))
        try daemon.start()
        defer { daemon.stop() }
        #expect(daemon.waitForExit() != 0)
        try daemon.notify.wait("the failure in STATUS") {
            $0.contains("Failed to point broadcast-rebroadcaster \"lan\" to broadcast address of eth9x, port \(target): no interface named \"eth9x\"")
        }
    }

    @Test("sourceAllow and per-source rate limit, counted by reason")
    func sourceAllowAndRateLimit() throws {
        let listenPort = Ports.free(), targetPort = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([
            rebroadcaster(listen: "0.0.0.0:\(listenPort)", target: "127.255.255.255:\(targetPort)", "\"sourceAllow\": [\"127.0.0.2/32\"], \"rateLimit\": 1, \"rateLimitBurst\": 2"),
        ]))
        defer { daemon.stop() }
        let receiver = try UDPTestSocket(bind: "0.0.0.0", port: targetPort)
        let allowed = try UDPTestSocket(bind: "127.0.0.2")
        let other = try UDPTestSocket(bind: "127.0.0.1")
        other.send("no", to: "127.0.0.1", port: listenPort)
        for i in 0..<5 { allowed.send("yes\(i)", to: "127.0.0.1", port: listenPort) }
        let heard = receiver.receiveUntilQuiet(quiet: 1).map(\.text)
        #expect(heard.count == 2 && heard.allSatisfy { $0.hasPrefix("yes") })
        let stats = try daemon.statistics(of: "bcast") { $0.contains("datagrams in=6") }
        #expect(stats.contains("dropped source not allowed=1"))
        #expect(stats.contains("dropped by rate limit=3"))
    }
}
