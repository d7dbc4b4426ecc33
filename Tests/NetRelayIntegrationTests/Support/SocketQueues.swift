import Foundation

/// The kernel's view of a TCP socket (from /proc/net/tcp and tcp6): how many bytes wait unread
/// in its receive queue and unacknowledged in its send queue. Lets a test see when the daemon
/// has stopped reading from a connection, without timing guesses.
enum SocketQueues {
    struct Queues {
        var send: Int
        var receive: Int
        var state: Int
    }

    /// The socket whose local port is `localPort` and remote port is `remotePort`.
    /// /proc/net/tcp is generated a page at a time, and a read can miss an entry while other
    /// sockets come and go, so a miss is retried a few times.
    static func lookup(localPort: Int, remotePort: Int) -> Queues? {
        for _ in 0..<5 {
            if let q = lookupOnce(localPort: localPort, remotePort: remotePort) { return q }
        }
        return nil
    }

    private static func lookupOnce(localPort: Int, remotePort: Int) -> Queues? {
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = readProcFile(file) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count > 4,
                      let lp = f[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
                      let rp = f[2].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
                      lp == localPort, rp == remotePort else { continue }
                let q = f[4].split(separator: ":")
                guard q.count == 2, let tx = Int(q[0], radix: 16), let rx = Int(q[1], radix: 16),
                      let st = Int(f[3], radix: 16) else { continue }
                return Queues(send: tx, receive: rx, state: st)
            }
        }
        return nil
    }

    /// The whole of a /proc file. (String(contentsOfFile:) stops after the first page of a
    /// /proc file, whose size reads as 0.)
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            bytes += buf[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Bytes written on `fd` that the peer has not acknowledged yet (SIOCOUTQ).
    static func unacknowledged(_ fd: Int32) -> Int {
        var n: Int32 = 0
        _ = ioctl(fd, UInt(0x5411), &n)  // SIOCOUTQ == TIOCOUTQ
        return Int(n)
    }

    static func localPort(_ fd: Int32) -> Int {
        var addr = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }
}
