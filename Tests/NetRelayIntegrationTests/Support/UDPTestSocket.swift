import Foundation

/// A plain UDP socket for tests (IPv4 or IPv6), with bounded receives so a test cannot hang.
final class UDPTestSocket {
    let fd: Int32
    let v6: Bool

    struct Datagram: Equatable {
        var text: String
        var bytes: Int
        var host: String
        var port: Int
    }

    /// Binds `host:port` (port 0: any). `broadcast` sets SO_BROADCAST before anything is sent.
    init(bind host: String = "127.0.0.1", port: Int = 0, broadcast: Bool = false) throws {
        v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed: \(errno)") }
        if broadcast {
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var big: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, socklen_t(MemoryLayout<Int32>.size))
        let rc = UDPTestSocket.withAddress(host, port) { bind(fd, $0, $1) }
        if rc != 0 {
            let e = errno
            close(fd)
            throw TestFailure("bind \(host):\(port) failed: \(String(cString: strerror(e)))")
        }
    }

    deinit { close(fd) }

    var localPort: Int {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UDPTestSocket.describe(storage).1
    }

    /// Sends and returns errno on failure (0 on success), so tests can look at refusals.
    @discardableResult
    func send(_ bytes: [UInt8], to host: String, port: Int) -> Int32 {
        let n = bytes.withUnsafeBytes { buf in
            UDPTestSocket.withAddress(host, port) { sendto(fd, buf.baseAddress, buf.count, 0, $0, $1) }
        }
        return n < 0 ? errno : 0
    }

    @discardableResult
    func send(_ text: String, to host: String, port: Int) -> Int32 {
        send(Array(text.utf8), to: host, port: port)
    }

    /// The next datagram, or nil after `timeout` seconds of silence.
    func receive(timeout: Double = 5) -> Datagram? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buf = [UInt8](repeating: 0, count: 65536)
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, 0, $0, &len) }
        }
        guard n >= 0 else { return nil }
        let (host, port) = UDPTestSocket.describe(storage)
        return Datagram(text: String(decoding: buf[0..<n], as: UTF8.self), bytes: n, host: host, port: port)
    }

    /// Everything that arrives until the socket has been quiet for `quiet` seconds (at most `limit` seconds in all).
    func receiveUntilQuiet(quiet: Double = 0.5, limit: Double = 10) -> [Datagram] {
        var out: [Datagram] = []
        let deadline = Date().addingTimeInterval(limit)
        while Date() < deadline, let d = receive(timeout: quiet) { out.append(d) }
        return out
    }

    private static func withAddress<R>(_ host: String, _ port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        if host.contains(":") {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &a.sin6_addr)
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &a.sin_addr)
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    }

    private static func string(_ buf: [CChar]) -> String {
        String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func describe(_ s: sockaddr_storage) -> (String, Int) {
        var s = s
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if s.ss_family == sa_family_t(AF_INET6) {
            return withUnsafePointer(to: &s) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    var a = p.pointee.sin6_addr
                    inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count))
                    return (UDPTestSocket.string(buf), Int(UInt16(bigEndian: p.pointee.sin6_port)))
                }
            }
        }
        return withUnsafePointer(to: &s) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                var a = p.pointee.sin_addr
                inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count))
                return (UDPTestSocket.string(buf), Int(UInt16(bigEndian: p.pointee.sin_port)))
            }
        }
    }
}

func udpResponder(_ name: String = "udp", port: Int, host: String = "127.0.0.1", _ options: String = "") -> String {
    let h = host.contains(":") ? "[\(host)]" : host
    return "{\"name\": \"\(name)\", \"kind\": \"udp-responder\", \"listen\": \"\(h):\(port)\"\(options.isEmpty ? "" : ", " + options)}"
}

func rebroadcaster(_ name: String = "bcast", listen: String, target: String, _ options: String = "") -> String {
    "{\"name\": \"\(name)\", \"kind\": \"broadcast-rebroadcaster\", \"listen\": \"\(listen)\", \"target\": \"\(target)\"\(options.isEmpty ? "" : ", " + options)}"
}

extension DaemonProcess {
    /// Sends SIGUSR1 and waits for the per-listener statistics line of `listener` that satisfies `predicate`.
    @discardableResult
    func statistics(of listener: String, timeout: Double = 10, until predicate: (String) -> Bool = { _ in true }) throws -> String {
        var found: String?
        try waitUntil(timeout: timeout, "statistics of \(listener); log so far:\n\(log)") {
            signal(SIGUSR1)
            Thread.sleep(forTimeInterval: 0.1)
            found = log.split(separator: "\n").last { $0.contains("\"\(listener)\" on") && $0.contains("event=statistics") }.map(String.init)
            return found.map(predicate) ?? false
        }
        return found ?? ""
    }
}
