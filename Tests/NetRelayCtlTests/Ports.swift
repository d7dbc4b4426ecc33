import Foundation
import NIOConcurrencyHelpers

/// Ports for test servers: from 20000–32000 (below Linux's ephemeral range, 32768+), free for
/// TCP and UDP on 127.0.0.1 and ::1 when handed out, and never handed out twice in one run.
enum Ports {
    private static let given = NIOLockedValueBox<Set<Int>>([])

    static func free() -> Int {
        for _ in 0..<500 {
            let port = Int.random(in: 20000...32000)
            let fresh = given.withLockedValue { $0.insert(port).inserted }
            if fresh && isFree(port) { return port }
        }
        fatalError("no free port in 20000–32000 after 500 tries")
    }

    static func isFree(_ port: Int) -> Bool {
        canBind(port, AF_INET, Int32(SOCK_STREAM.rawValue)) && canBind(port, AF_INET, Int32(SOCK_DGRAM.rawValue))
            && canBind(port, AF_INET6, Int32(SOCK_STREAM.rawValue)) && canBind(port, AF_INET6, Int32(SOCK_DGRAM.rawValue))
    }

    private static func canBind(_ port: Int, _ family: Int32, _ type: Int32) -> Bool {
        let fd = socket(family, type, 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if family == AF_INET {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            return withUnsafePointer(to: &a) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
        }
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_port = in_port_t(UInt16(port).bigEndian)
        a.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 }
        }
    }
}
