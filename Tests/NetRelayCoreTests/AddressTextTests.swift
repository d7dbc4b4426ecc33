#if canImport(Glibc)
import Glibc
import Logging
import NIOCore
import CNetRelayShims
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// CNetRelayShims' inet_ntop, which the linker puts ahead of the C library's in every binary
/// that links NetRelayCore (this test binary too): the same text as glibc's for every address.
@Suite("inet_ntop without printf")
struct AddressTextTests {
    /// What glibc 2.36's inet_ntop prints for these (generated with it).
    static let v6: [(String, [UInt8])] = [
        ("::", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("::1", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ("1::", [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("2001:db8::1", [32, 1, 13, 184, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ("2001:db8::1:0:0:1", [32, 1, 13, 184, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]),
        ("0:0:1::1:0", [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
        ("::ffff:192.0.2.1", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 192, 0, 2, 1]),
        ("::192.0.2.1", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1]),
        ("::ffff:0:c000:201", [0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 192, 0, 2, 1]),
        ("fe80::1:2:3:4", [254, 128, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4]),
        ("1:0:0:2::3", [0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3]),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", [UInt8](repeating: 255, count: 16)),
        ("0:1:2:3:4:5:6:7", [0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7]),
        ("::2", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
        ("::ffff:0.0.0.0", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0]),
        ("1:2:3:4:5:6:7:0", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]),
    ]

    static func text(_ family: Int32, _ bytes: [UInt8], size: Int = 64) -> (String?, Int32) {
        var out = [CChar](repeating: 0, count: max(size, 1))
        errno = 0
        let r = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &out, socklen_t(size)) }
        return (r == nil ? nil : String(cString: out), errno)
    }

    @Test("The binary's inet_ntop is this one, not the C library's")
    func linkedAheadOfLibc() {
        let f: @convention(c) (Int32, UnsafeRawPointer?, UnsafeMutablePointer<CChar>?, socklen_t) -> UnsafePointer<CChar>? = inet_ntop
        #expect(unsafeBitCast(f, to: UnsafeRawPointer.self) == CNetRelay_inetNtopAddress())
    }

    @Test("IPv6: zero runs, embedded IPv4, hex as glibc writes them")
    func ipv6() {
        for (expected, bytes) in Self.v6 {
            #expect(Self.text(AF_INET6, bytes).0 == expected)
        }
    }

    @Test("IPv4: every octet width")
    func ipv4() {
        #expect(Self.text(AF_INET, [127, 0, 0, 1]).0 == "127.0.0.1")
        #expect(Self.text(AF_INET, [0, 0, 0, 0]).0 == "0.0.0.0")
        #expect(Self.text(AF_INET, [255, 255, 255, 255]).0 == "255.255.255.255")
        #expect(Self.text(AF_INET, [10, 99, 100, 9]).0 == "10.99.100.9")
    }

    @Test("Too small a buffer is ENOSPC, an unknown family EAFNOSUPPORT")
    func errors() {
        // "127.0.0.1" needs 10 bytes with its NUL.
        #expect(Self.text(AF_INET, [127, 0, 0, 1], size: 10).0 == "127.0.0.1")
        let short = Self.text(AF_INET, [127, 0, 0, 1], size: 9)
        #expect(short.0 == nil && short.1 == ENOSPC)
        let short6 = Self.text(AF_INET6, Self.v6[3].1, size: 11)
        #expect(short6.0 == nil && short6.1 == ENOSPC)
        let other = Self.text(12345, [1, 2, 3, 4])
        #expect(other.0 == nil && other.1 == EAFNOSUPPORT)
    }

    @Test("NIO's addresses read from sockets describe themselves with it")
    func nioAddress() throws {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(2000).bigEndian
        sin.sin_addr.s_addr = UInt32(0xC000_0201).bigEndian
        #expect(SocketAddress(sin).ipAddress == "192.0.2.1")
        #expect(try SocketAddress(ipAddress: "2001:db8::1", port: 1).ipAddress == "2001:db8::1")
    }
}

@Suite("Start-up pages")
struct StartupPagesTests {
    @Test("The read-only segments are unmapped, and the code runs on from the page cache")
    func release() throws {
        let bytes = StartupPages.release(logger: Logger(label: "test"))
        #expect(bytes > 1 << 20)
        // Code and tables of this binary and of libc come back on use.
        #expect(IPAddress("192.0.2.1")?.description == "192.0.2.1")
        #expect(String(cString: strerror(ENOENT)).isEmpty == false)
    }

    @Test("Kept when switched off or while a tracer is attached (its breakpoints live in those pages)")
    func skipped() {
        let untraced = "Name:\tnetrelayd\nTracerPid:\t0\nUid:\t0\n"
        #expect(StartupPages.skipReason(environment: nil, status: untraced) == nil)
        #expect(StartupPages.skipReason(environment: "0", status: untraced) == nil)
        #expect(StartupPages.skipReason(environment: "1", status: untraced) == "NETRELAYD_KEEP_STARTUP_PAGES=1")
        #expect(StartupPages.skipReason(environment: nil, status: "Name:\tx\nTracerPid:\t4242\n") == "a tracer (PID 4242) is attached")
        #expect(StartupPages.skipReason(environment: nil, status: nil) == nil)
        // This process's own status parses (no tracer under swift test).
        #expect(StartupPages.processStatus()?.contains("TracerPid:") == true)
    }
}
#endif
