import Foundation

/// Free ports for a test, chosen from 20000-32767: below Linux's ephemeral range
/// (32768-60999), so a client's own source port can never take a port a test is about to use.
enum Ports {
    private static let lock = NSLock()
    private nonisolated(unsafe) static var handedOut = Set<Int>()

    /// A port free for both TCP and UDP on 127.0.0.1 and ::1.
    static func free() -> Int {
        lock.lock()
        defer { lock.unlock() }
        for _ in 0..<1000 {
            let port = Int.random(in: 20000...32767)
            if handedOut.contains(port) { continue }
            if canBind(port, type: SOCK_STREAM) && canBind(port, type: SOCK_DGRAM) {
                handedOut.insert(port)
                return port
            }
        }
        fatalError("no free port found in 20000-32767")
    }

    private static func canBind(_ port: Int, type: __socket_type) -> Bool {
        let fd = socket(AF_INET, Int32(type.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = 0  // INADDR_ANY covers every IPv4 address
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
