#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import NIOCore

/// `http://HOST:PORT/path`, as `--url` takes it (plain HTTP only: the daemon's endpoint has no TLS).
struct HTTPURL: Sendable, Equatable {
    var hostPort: HostPort
    var path: String

    static func parse(_ text: String) throws -> HTTPURL {
        guard text.hasPrefix("http://") else {
            throw ValidationError("--url '\(text)' must start with http:// (the endpoint has no TLS), e.g. http://127.0.0.1:9477.")
        }
        let rest = text.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = rest[slash...].isEmpty ? "/" : String(rest[slash...])
        return HTTPURL(hostPort: try HostPort.parse(authority, option: "--url"), path: path)
    }
}

/// A blocking HTTP/1.1 GET with one timeout for the whole exchange: enough for a command that
/// reads one small document from the daemon and exits.
enum HTTPGet {
    struct Response {
        var status: Int
        var body: [UInt8]
    }

    /// Throws `ProbeFailure` when the daemon cannot be reached or answers garbage.
    static func get(_ target: HostPort, path: String, timeout: Double) throws -> Response {
        let address = try target.resolve()
        let fd = socket(address.protocol == .inet6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProbeFailure("cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let connected = address.withSockAddr { sa, len in connect(fd, sa, socklen_t(len)) }
        guard connected == 0 else {
            let e = errno
            if e == ECONNREFUSED { throw ProbeFailure("cannot reach netrelayd at \(target): connection refused (is \"http\" set in its configuration?)") }
            if e == EINPROGRESS || e == EAGAIN || e == ETIMEDOUT { throw ProbeFailure("cannot reach netrelayd at \(target): timed out after \(timeout) s") }
            throw ProbeFailure("cannot reach netrelayd at \(target): \(String(cString: strerror(e)))")
        }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(target)\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw ProbeFailure("cannot send the request to \(target): \(String(cString: strerror(errno)))") }
            sent += n
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while response.count < 16 << 20 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw ProbeFailure("no answer from \(target) within \(timeout) s")
            }
            response += chunk[0..<n]
        }
        return try parse(response, from: target)
    }

    /// The status and the body of a `Connection: close` response with Content-Length (what netrelayd sends).
    static func parse(_ raw: [UInt8], from target: HostPort) throws -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, raw.count - 3)).first(where: { Array(raw[$0..<$0 + 4]) == separator }) else {
            throw ProbeFailure("\(target) did not answer with HTTP")
        }
        let head = String(decoding: raw[..<end], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw ProbeFailure("\(target) did not answer with HTTP (\(statusLine.prefix(60)))")
        }
        return Response(status: status, body: Array(raw[(end + 4)...]))
    }
}
