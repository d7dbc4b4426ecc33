import Foundation
import Testing

/// Issue 11, points 1-3: the tcp-echo listener against hostile peers, through the real binary.
/// `scripts/bench-hostile` replays the same attacks at full size.
@Suite("Hostile TCP peers", .serialized)
struct HostileTCPTests {
    /// utime + stime of a process, in seconds.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = SocketQueues.readProcFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (Double(fields[11]) ?? 0) / ticks + (Double(fields[12]) ?? 0) / ticks
    }

    static func openFileCount(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    /// A non-blocking connect: returns the socket (the kernel may complete the handshake into the
    /// backlog, or drop the SYN once the backlog is full); never waits.
    static func connectNonBlocking(port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        return fd
    }

    @Test("At RLIMIT_NOFILE: accepting backs off (low CPU), the watchdog keeps pinging, STATUS says so, one warning, counted; accepting resumes once fds are free")
    func fdLimit() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(
            config: configJSON([tcpEcho(port: port, "\"idleTimeout\": 0")], extra: "\"statusInterval\": 0.2"),
            environment: ["WATCHDOG_USEC": "400000"], logLevel: "info")
        defer { daemon.stop() }
        // Lower the running daemon's limit (it raised its soft limit to the hard one at start).
        let limit = 64
        let prlimit = Process()
        prlimit.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        prlimit.arguments = ["--pid", "\(daemon.pid)", "--nofile=\(limit):\(limit)"]
        try prlimit.run()
        prlimit.waitUntilExit()
        #expect(prlimit.terminationStatus == 0)

        // Enough clients to use every free descriptor, and some more waiting in the backlog.
        let free = limit - Self.openFileCount(daemon.pid)
        var held: [TCPClient] = []
        defer { for c in held { c.close() } }
        for _ in 0..<(free + 8) { held.append(try TCPClient(port: port)) }
        try daemon.waitForLog("is at the fd limit (RLIMIT_NOFILE \(limit)")

        // Clients keep connecting for 3 s (bounded: at most 300 attempts).
        let mark = daemon.notify.messages.count
        let cpu0 = Self.cpuSeconds(daemon.pid)
        let start = Date()
        var attempts = 0
        while Date().timeIntervalSince(start) < 3 && attempts < 300 {
            let fd = Self.connectNonBlocking(port: port)
            Thread.sleep(forTimeInterval: 0.01)
            if fd >= 0 { close(fd) }
            attempts += 1
        }
        let wall = Date().timeIntervalSince(start)
        let cpu = Self.cpuSeconds(daemon.pid) - cpu0
        let window = Array(daemon.notify.messages[mark...])
        let pings = window.filter { $0.contains("WATCHDOG=1") }.count
        // 200 ms between pings: about 15 in 3 s; a stalled or fd-starved daemon sends none.
        #expect(pings >= 5, "only \(pings) WATCHDOG=1 in \(wall) s at the fd limit")
        #expect(window.contains { $0.contains("STATUS=") && $0.contains("AT THE FD LIMIT (RLIMIT_NOFILE \(limit)): \"echo\" not accepting") },
                "no STATUS= about the fd limit: \(window.filter { $0.hasPrefix("STATUS=") })")
        // A behaviour check, not a micro-benchmark: spinning on accept() is ~100 %.
        #expect(cpu < 0.3 * wall, "daemon used \(cpu) s of CPU in \(wall) s at the fd limit")
        let warnings = daemon.log.split(separator: "\n").filter { $0.contains("is at the fd limit") }
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.first?.contains("warning") == true && warnings.first?.contains("tcp-echo \"echo\" on 127.0.0.1:\(port)") == true)

        // Free the descriptors: a new client is served, and STATUS= drops the note.
        for c in held { c.close() }
        held = []
        let client = try TCPClient(port: port)
        try client.send("back")
        #expect(try client.receiveText(4) == "back")
        let later = daemon.notify.messages.count
        try daemon.notify.wait(after: later, "STATUS= without the fd-limit note") { $0.hasPrefix("STATUS=") && !$0.contains("FD LIMIT") }
        let stats = try daemon.statistics(of: "echo") { $0.contains("refused at the fd limit=") }
        #expect(stats.contains("refused at the fd limit="))
    }

    @Test("check-config warns when maxConnections cannot fit in RLIMIT_NOFILE, with the numbers and the fix")
    func fdLimitWarning() throws {
        let dir = Paths.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.json"
        try configJSON([tcpEcho(port: 7, "\"maxConnections\": 500"), tcpEcho("b", port: 8, "\"maxConnections\": 600")]).write(toFile: path, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        p.arguments = ["--nofile=1024:1024", Paths.netrelayd, "check-config", path]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        // The warning points at the largest limit: listener "b"'s maxConnections (line 3, column 78).
        #expect(text == "\(path):3:78: warning: listeners: the tcp-echo listeners' maxConnections add up to 1100, plus 23 file descriptors the daemon needs for itself, but RLIMIT_NOFILE is 1024: at the limit new connections wait in the backlog until others close; raise the limit (LimitNOFILE=2048 in the unit) or lower maxConnections\n")
    }

    /// Writes as much as the daemon's receive window takes without leaving bytes in the
    /// client's own send queue (so the FIN that follows arrives), round-robin over `clients`.
    static func fillReceiveWindows(_ clients: [TCPClient], maxEach: Int, limit: Double = 15) -> Int {
        for c in clients { c.setNonBlocking() }
        let chunk = [UInt8](repeating: 0x61, count: 16384)
        var active = Set(clients.indices)
        var stalled = [Int](repeating: 0, count: clients.count)
        var written = [Int](repeating: 0, count: clients.count)
        let start = Date()
        while !active.isEmpty && Date().timeIntervalSince(start) < limit {
            for i in active {
                // Send only while nothing is queued unsent or unacknowledged (SIOCOUTQ).
                if SocketQueues.unacknowledged(clients[i].fd) == 0, written[i] < maxEach {
                    let n = chunk.withUnsafeBytes { send(clients[i].fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if n > 0 { written[i] += n; stalled[i] = 0; continue }
                }
                stalled[i] += 1
                if stalled[i] >= 10 || written[i] >= maxEach { active.remove(i) }
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return written.reduce(0, +)
    }

    @Test("memoryBudget: half-closing peers that never read are closed largest first once the daemon holds more than the budget; RSS stays bounded and falls back")
    func memoryBudget() throws {
        let port = Ports.free()
        let budget = 4 << 20
        let daemon = try DaemonProcess.launch(
            config: configJSON([tcpEcho(port: port, "\"allowHalfOpen\": true, \"sendBufferSize\": 16384")], extra: "\"memoryBudget\": \(budget)"),
            logLevel: "info")
        defer { daemon.stop() }
        Thread.sleep(forTimeInterval: 0.5)
        let idle = daemon.rssKiB
        var clients: [TCPClient] = []
        defer { for c in clients { c.close() } }
        for i in 0..<120 {
            clients.append(try TCPClient(port: port, source: "127.0.0.\(1 + i % 8)", receiveBuffer: 4096))
        }
        let written = Self.fillReceiveWindows(clients, maxEach: 1 << 20)
        for c in clients { c.shutdownWrite() }
        // The daemon now drains every socket (Linux hands over all input after a FIN) into echo
        // that nobody reads: far more than the budget in total.
        #expect(written > 2 * budget, "the clients wrote only \(written) bytes; the test needs more than twice the budget")
        let stats = try daemon.statistics(of: "echo", timeout: 20) { $0.contains("closed over the memory budget=") }
        var peak = 0
        for _ in 0..<20 {
            peak = max(peak, daemon.rssKiB)
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(stats.contains("closed over the memory budget="))
        try daemon.waitForLog("Memory budget exceeded (memoryBudget \(budget) bytes")
        #expect(peak - idle < (budget >> 10) + 16 * 1024, "RSS \(idle) -> \(peak) KiB with a \(budget >> 20) MiB budget")
        // What the budget counted at worst: a victim's bytes count until it is closed, so
        // the others cannot fill its place meanwhile; over the limit by at most one charge (a
        // connection turning unwritable: its queue up to the 64 KiB high-water mark, the
        // receive buffer, the read that tipped it).
        let held = daemon.log.split(separator: "\n").last { $0.contains("Memory held for peers that do not read") }.map(String.init) ?? ""
        let most = held.components(separatedBy: "at most ").dropFirst().first.map { Int($0.prefix { $0.isNumber }) ?? 0 } ?? 0
        #expect(most > budget && most <= budget + 128 * 1024, "\(held)")
        // Some connections were closed, not all: the budget cuts the biggest holders only.
        let closed = stats.components(separatedBy: "closed over the memory budget=").dropFirst().first.map { Int($0.prefix { $0.isNumber }) ?? 0 } ?? 0
        #expect(closed > 0 && closed < clients.count, "\(closed) closed of \(clients.count); RSS \(idle) -> \(peak) KiB; \(stats)")
        print("memoryBudget test: \(clients.count) clients wrote \(written) bytes; \(closed) closed over the budget; RSS \(idle) -> peak \(peak) KiB")

        for c in clients { c.close() }
        clients = []
        try waitUntil(timeout: 20, "RSS back near the idle \(idle) KiB (now \(daemon.rssKiB) KiB)") { daemon.rssKiB - idle < 16 * 1024 }
        // Still serving.
        let client = try TCPClient(port: port)
        try client.send("ok")
        #expect(try client.receiveText(2) == "ok")
    }

    @Test("sendBufferSize / receiveBufferSize are set on the listening socket and inherited by accepted connections")
    func bufferSizes() throws {
        let port = Ports.free()
        let daemon = try DaemonProcess.launch(config: configJSON([tcpEcho(port: port, "\"sendBufferSize\": 32768, \"receiveBufferSize\": 49152")]))
        defer { daemon.stop() }
        let client = try TCPClient(port: port)
        try client.send("x")
        _ = try client.receive(exactly: 1)
        // ss -m: the daemon's side of the connection (source port = the listener) shows
        // rb/tb, the buffer sizes; Linux doubles what SO_RCVBUF/SO_SNDBUF ask for.
        let ss = Process()
        ss.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ss.arguments = ["ss", "-tmnH", "state", "established", "sport", "= :\(port)"]
        let out = Pipe()
        ss.standardOutput = out
        try ss.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ss.waitUntilExit()
        #expect(text.contains("rb98304") && text.contains("tb65536"), "ss -tm: \(text)")
        #expect(daemon.log.contains("sendBufferSize 32768, receiveBufferSize 49152"))
    }
}
