#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetRelayShims
import NIOCore
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// `SourceSteering`: the reuseport program picks a socket from the source address only, run by
/// a small interpreter here and by the kernel on a loopback SO_REUSEPORT group.
@Suite("Source steering: one source address stays on one socket of a SO_REUSEPORT group")
struct SourceSteeringTests {
    static let netOff = Int64(-0x100000) // SKF_NET_OFF

    /// Runs a classic BPF program over an IP header (read through SKF_NET_OFF); nil on an
    /// instruction it does not know or a read outside the header.
    static func run(_ code: [CNetRelay_sockFilter], header: [UInt8]) -> UInt32? {
        var a: UInt32 = 0, x: UInt32 = 0, pc = 0
        func load(_ k: UInt32, _ size: Int) -> UInt32? {
            let offset = Int(Int64(Int32(bitPattern: k)) - netOff)
            guard offset >= 0, offset + size <= header.count else { return nil }
            return header[offset..<offset + size].reduce(0) { $0 << 8 | UInt32($1) }
        }
        while pc < code.count {
            let i = code[pc]
            pc += 1
            switch i.code {
            case 0x30: guard let v = load(i.k, 1) else { return nil }; a = v // ld b abs
            case 0x20: guard let v = load(i.k, 4) else { return nil }; a = v // ld w abs
            case 0x74: a >>= i.k // rsh k
            case 0x15: pc += a == i.k ? Int(i.jt) : Int(i.jf) // jeq k
            case 0x05: pc += Int(i.k) // ja
            case 0x07: x = a // tax
            case 0xac: a ^= x // xor x
            case 0x94: guard i.k != 0 else { return nil }; a %= i.k // mod k
            case 0x16: return a // ret a
            default: return nil
            }
        }
        return nil
    }

    static func v4Header(source: [UInt8]) -> [UInt8] {
        [0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0] + source + [127, 0, 0, 1]
    }

    static func v6Header(source: [UInt8]) -> [UInt8] {
        [0x60, 0, 0, 0, 0, 8, 17, 64] + source + [UInt8](repeating: 0, count: 15) + [1]
    }

    @Test("IPv4: the source address modulo the count; IPv6: the xor of the /64's two words, modulo the count")
    func program() throws {
        let code = SourceSteering.instructions(count: 3)
        #expect(Self.run(code, header: Self.v4Header(source: [10, 0, 0, 7])) == UInt32(0x0a00_0007) % 3)
        #expect(Self.run(code, header: Self.v4Header(source: [192, 168, 1, 200])) == UInt32(0xc0a8_01c8) % 3)
        let v6 = Self.v6Header(source: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x2a] + [UInt8](repeating: 0, count: 7) + [5])
        #expect(Self.run(code, header: v6) == (UInt32(0x2001_0db8) ^ 0x0000_002a) % 3)
        // Same /64, other interface id: the same socket.
        let sibling = Self.v6Header(source: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x2a] + [UInt8](repeating: 0xee, count: 8))
        #expect(Self.run(code, header: sibling) == Self.run(code, header: v6))
        for count in 1...8 {
            let c = SourceSteering.instructions(count: count)
            for last in UInt8(0)..<16 {
                #expect(Self.run(c, header: Self.v4Header(source: [127, 0, 0, last])) == UInt32(0x7f00_0000 | UInt32(last)) % UInt32(count))
            }
        }
    }

    static func socket(bind address: String, port: UInt16, reusePort: Bool) throws -> CInt {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var one: CInt = 1
        if reusePort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<CInt>.size)) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr(address)
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else {
            close(fd)
            throw IOError(errnoCode: errno, reason: "bind \(address):\(port)")
        }
        return fd
    }

    static func port(of fd: CInt) -> UInt16 {
        var a = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UInt16(bigEndian: a.sin_port)
    }

    /// The last byte of the source address of each datagram queued on `fd` (bounded: 1 s of silence ends it).
    static func sources(_ fd: CInt) -> [UInt8] {
        var out: [UInt8] = []
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while out.count < 1000, poll(&pfd, 1, 1000) > 0 {
            var buf = [UInt8](repeating: 0, count: 64)
            var from = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let n = withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, 0, $0, &len) } }
            guard n >= 0 else { break }
            out.append(UInt8(UInt32(bigEndian: from.sin_addr.s_addr) & 0xff))
        }
        return out
    }

    @Test("The kernel runs it: on a group of two, 127.0.0.K lands on socket K % 2 from every one of its source ports")
    func kernelGroup() throws {
        let first = try Self.socket(bind: "127.0.0.1", port: 0, reusePort: true)
        defer { close(first) }
        let port = Self.port(of: first)
        let second = try Self.socket(bind: "127.0.0.1", port: port, reusePort: true)
        defer { close(second) }
        #expect(CNetRelay_attachSourceSteering(first, 2) == 0, "errno \(errno)")
        var sent = 0
        for k in 1...6 {
            for _ in 0..<8 {
                let client = try Self.socket(bind: "127.0.0.\(k)", port: 0, reusePort: false)
                defer { close(client) }
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_port = port.bigEndian
                a.sin_addr.s_addr = inet_addr("127.0.0.1")
                let n = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(client, "x", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                if n == 1 { sent += 1 }
            }
        }
        let zero = Self.sources(first), one = Self.sources(second)
        #expect(zero.count + one.count == sent)
        #expect(Set(zero) == [2, 4, 6], "socket 0 got \(zero)")
        #expect(Set(one) == [1, 3, 5], "socket 1 got \(one)")
    }
}
