import Foundation

/// Drives many echo connections at once from one thread with poll(2): each connection writes
/// its own pseudo-random payload and checks every byte that comes back.
enum ConcurrentEcho {
    struct Result {
        var completed = 0
        var mismatches = 0
    }

    private final class Conn {
        let fd: Int32
        let payload: [UInt8]
        var sent = 0
        var received = 0
        var mismatch = false
        init(fd: Int32, payload: [UInt8]) {
            self.fd = fd
            self.payload = payload
        }
        var done: Bool { received == payload.count || mismatch }
    }

    static func payload(seed: Int, count: Int) -> [UInt8] {
        var x = UInt64(seed &+ 1) &* 0x9E37_79B9_7F4A_7C15
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            out[i] = UInt8(truncatingIfNeeded: x)
        }
        return out
    }

    static func run(port: Int, connections: Int, bytesEach: Int, timeout: Double) throws -> Result {
        var conns: [Conn] = []
        defer { for c in conns { close(c.fd) } }
        for i in 0..<connections {
            let client = try TCPClient(port: port)
            // Take the descriptor over from the helper (it closes in deinit otherwise).
            let fd = dup(client.fd)
            client.close()
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            conns.append(Conn(fd: fd, payload: payload(seed: i, count: bytesEach)))
        }
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 65536)
        while conns.contains(where: { !$0.done }) {
            guard Date() < deadline else { throw TestFailure("concurrent echo did not finish within \(timeout) s") }
            let active = conns.filter { !$0.done }
            var pfds = active.map { c in
                pollfd(fd: c.fd, events: Int16(POLLIN) | (c.sent < c.payload.count ? Int16(POLLOUT) : 0), revents: 0)
            }
            let n = poll(&pfds, nfds_t(pfds.count), 1000)
            if n < 0 && errno != EINTR { throw TestFailure("poll failed: \(errno)") }
            for (i, c) in active.enumerated() {
                let ev = pfds[i].revents
                if ev & Int16(POLLOUT) != 0 && c.sent < c.payload.count {
                    let w = c.payload[c.sent...].withUnsafeBytes { send(c.fd, $0.baseAddress, min($0.count, 65536), Int32(MSG_NOSIGNAL)) }
                    if w > 0 { c.sent += w }
                }
                if ev & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
                    let r = recv(c.fd, &buf, buf.count, 0)
                    if r > 0 {
                        for j in 0..<r where buf[j] != c.payload[c.received + j] {
                            c.mismatch = true
                            break
                        }
                        c.received += r
                    } else if r == 0 || (errno != EAGAIN && errno != EINTR) {
                        throw TestFailure("connection closed early after \(c.received) of \(c.payload.count) bytes")
                    }
                }
            }
        }
        var result = Result()
        for c in conns {
            if c.mismatch { result.mismatches += 1 } else if c.received == c.payload.count { result.completed += 1 }
        }
        return result
    }
}
