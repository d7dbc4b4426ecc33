import Foundation

/// A plain blocking TCP client for tests, with receive timeouts so a test cannot hang.
final class TCPClient {
    let fd: Int32
    private(set) var closed = false

    enum ReadEnd: Equatable {
        /// The server closed its side (FIN).
        case eof
        /// The connection was reset (RST).
        case reset
        /// Nothing arrived before the timeout.
        case timeout
    }

    /// Connects to `host:port` (IPv4 or IPv6 literal). `receiveBuffer` sets SO_RCVBUF first.
    init(host: String = "127.0.0.1", port: Int, source: String? = nil, receiveBuffer: Int? = nil, timeout: Double = 10) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed: \(errno)") }
        if let source {
            // Connect from another loopback address (127.0.0.2 ...) to test per-source rules.
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &addr.sin_addr)
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard rc == 0 else { Glibc.close(fd); throw TestFailure("bind to source \(source) failed: \(errno)") }
        }
        if let receiveBuffer {
            var size = Int32(receiveBuffer)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        setTimeout(timeout)
        var rc: Int32
        if v6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &addr.sin6_addr)
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &addr.sin_addr)
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        if rc != 0 {
            let e = errno
            Glibc.close(fd)
            throw TestFailure("connect to \(host):\(port) failed: \(String(cString: strerror(e)))")
        }
    }

    func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("send failed: \(String(cString: strerror(errno)))")
            }
            off += n
        }
    }

    /// Reads until `count` bytes arrived; throws on EOF, reset or timeout.
    func receive(exactly count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < count {
            let n = recv(fd, &buf, min(buf.count, count - out.count), 0)
            if n > 0 { out.append(contentsOf: buf[0..<n]); continue }
            if n == 0 { throw TestFailure("connection closed after \(out.count) of \(count) bytes") }
            if errno == EINTR { continue }
            throw TestFailure("receive failed after \(out.count) of \(count) bytes: \(String(cString: strerror(errno)))")
        }
        return out
    }

    func receiveText(_ count: Int) throws -> String {
        String(decoding: try receive(exactly: count), as: UTF8.self)
    }

    /// Reads until the server closes, resets or stays silent for the timeout.
    func receiveUntilEnd() -> (bytes: [UInt8], end: ReadEnd) {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { out.append(contentsOf: buf[0..<n]); continue }
            if n == 0 { return (out, .eof) }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return (out, .reset) }
            return (out, .timeout)
        }
    }

    /// Like `receiveUntilEnd`, but reads at most `chunk` bytes every `pause` seconds: a slow
    /// reader keeps the server's queue for it full.
    func receiveSlowly(chunk: Int, pause: Double) -> (bytes: Int, end: ReadEnd) {
        var total = 0
        var buf = [UInt8](repeating: 0, count: chunk)
        while true {
            let n = recv(fd, &buf, chunk, 0)
            if n > 0 {
                total += n
                Thread.sleep(forTimeInterval: pause)
                continue
            }
            if n == 0 { return (total, .eof) }
            if errno == EINTR { continue }
            return (total, errno == ECONNRESET ? .reset : .timeout)
        }
    }

    /// How the connection ends when nothing more is expected: .eof, .reset or .timeout.
    func waitForEnd() -> ReadEnd { receiveUntilEnd().end }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Writes `total` bytes without reading, in non-blocking mode, until done or until the
    /// socket has refused more for `stallAfter` seconds (the peer stopped reading). Returns
    /// the number of bytes written. Bounded by `limit` seconds overall.
    func writeWithoutReading(total: Int, stallAfter: Double = 1.0, limit: Double = 60) -> Int {
        setNonBlocking()
        let chunk = [UInt8](repeating: 0x61, count: 65536)
        var written = 0
        var lastProgress = Date()
        let start = Date()
        while written < total && Date().timeIntervalSince(start) < limit {
            let n = chunk.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, min($0.count, total - written), Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                written += n
                lastProgress = Date()
                continue
            }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                if Date().timeIntervalSince(lastProgress) > stallAfter { break }
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pfd, 1, 50)
                continue
            }
            break
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        return written
    }

    func setNonBlocking() {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    func close() {
        if !closed {
            closed = true
            Glibc.close(fd)
        }
    }

    deinit { close() }
}
