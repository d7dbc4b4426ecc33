import Glibc
import NIOCore
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// The sendmmsg path on real loopback sockets: the one place in this target that needs a socket,
/// because what it is about is how the kernel's errors are handled.
@Suite("Datagram sender (sendmmsg on loopback)")
struct DatagramSenderTests {
    /// A bound, non-blocking UDP socket on 127.0.0.1 and its port.
    func socketOnLoopback() throws -> (CInt, Int) {
        let fd = try DatagramSocket.boundSocket(address("127.0.0.1", 0), .init(listen: Endpoint(address: .v4(0x7F00_0001), port: 0), reusePort: false, broadcast: false, sizing: .init(maxDatagramSize: 100, vectorReadCount: 1)))
        var storage = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return (fd, Int(UInt16(bigEndian: storage.sin_port)))
    }

    func receive(_ fd: CInt) -> String? {
        var buf = [UInt8](repeating: 0, count: 2048)
        let n = recv(fd, &buf, buf.count, 0)
        return n >= 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
    }

    @Test("A datagram the kernel refuses is counted and skipped; the rest of the batch goes out")
    func errorSkipsOneDatagram() throws {
        let (senderFD, _) = try socketOnLoopback()
        let (receiverFD, port) = try socketOnLoopback()
        defer { close(receiverFD) }
        let sender = DatagramSender(fd: senderFD)
        let payload = Array("firstsecondthird".utf8)
        // The middle one goes to port 0, which sendmmsg refuses (EINVAL).
        let destinations = [address("127.0.0.1", port), address("127.0.0.1", 0), address("127.0.0.1", port)]
        let ranges = [(0, 5), (5, 6), (11, 5)]
        let result = payload.withUnsafeBytes { raw in
            sender.send(count: 3, base: raw.baseAddress!) { (destinations[$0], ranges[$0].0, ranges[$0].1) }
        }
        #expect(result.sent == 2)
        #expect(result.failed == 1)
        #expect(result.lastErrno == EINVAL)
        #expect(receive(receiverFD) == "first")
        #expect(receive(receiverFD) == "third")
        sender.close()
    }

    @Test("Batches longer than one sendmmsg call all go out, in order")
    func longBatch() throws {
        let (senderFD, _) = try socketOnLoopback()
        let (receiverFD, port) = try socketOnLoopback()
        defer { close(receiverFD) }
        let sender = DatagramSender(fd: senderFD)
        let texts = (0..<150).map { String(format: "%03d", $0) }
        let payload = Array(texts.joined().utf8)
        let to = address("127.0.0.1", port)
        let result = payload.withUnsafeBytes { raw in
            sender.send(count: texts.count, base: raw.baseAddress!) { (to, $0 * 3, 3) }
        }
        #expect(result == DatagramSender.Result(sent: 150))
        let got = (0..<150).compactMap { _ in receive(receiverFD) }
        #expect(got == texts)
    }

    @Test("A closed sender fails instead of writing to a reused descriptor")
    func closed() throws {
        let (senderFD, port) = try socketOnLoopback()
        let sender = DatagramSender(fd: senderFD)
        sender.close()
        let bytes: [UInt8] = [1]
        let result = bytes.withUnsafeBytes { raw in sender.send(count: 1, base: raw.baseAddress!) { _ in (address("127.0.0.1", port), 0, 1) } }
        #expect(result.failed == 1 && result.sent == 0)
    }

    @Test("IP_PKTINFO on send: out of the named interface (lo); a datagram pinned to no such interface fails alone and is reported as unsent")
    func pinnedToInterface() throws {
        let (senderFD, _) = try socketOnLoopback()
        let (receiverFD, port) = try socketOnLoopback()
        defer { close(receiverFD) }
        let sender = DatagramSender(fd: senderFD)
        let lo = Int(if_nametoindex("lo"))
        #expect(lo > 0)
        let payload = Array("onetwothree".utf8)
        let ranges = [(0, 3), (3, 3), (6, 5)]
        // Interface 999999 does not exist: the kernel refuses that one datagram (ENODEV/ENXIO).
        let interfaces = [lo, 999_999, 0]
        var unsent: [Int] = []
        let result = payload.withUnsafeBytes { raw in
            sender.send(count: 3, base: raw.baseAddress!, unsent: { unsent.append($0) }) {
                (address("127.0.0.1", port), ranges[$0].0, ranges[$0].1, interfaces[$0])
            }
        }
        #expect(result.sent == 2 && result.failed == 1)
        #expect(unsent == [1])
        #expect(receive(receiverFD) == "one")
        #expect(receive(receiverFD) == "three")
    }
}
