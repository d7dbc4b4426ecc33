import Glibc
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// A udp-responder listener in-process on loopback: what happens when NIO closes its channel.
@Suite("Datagram socket recovery")
struct DatagramSocketTests {
    func exchange(_ fd: CInt, port: Int, _ text: String) -> String? {
        var to = sockaddr_in()
        to.sin_family = sa_family_t(AF_INET)
        to.sin_port = in_port_t(UInt16(port).bigEndian)
        to.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bytes = Array(text.utf8)
        _ = withUnsafePointer(to: &to) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var buf = [UInt8](repeating: 0, count: 2048)
        let n = recv(fd, &buf, buf.count, 0)
        return n >= 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
    }

    @Test("When the channel closes without being asked, the same port is bound again and answers")
    func rebindsAfterUnexpectedClose() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let log = RecordedLog()
        var spec = UDPResponderSpec(listen: Endpoint(address: .v4(0x7F00_0001), port: 0))
        spec.replyPrefix = "re:"
        let listener = UDPResponderListener(name: "r", spec: spec, context: ListenerContext(group: group, logger: log.logger))
        try await listener.start()
        let port = try #require(Endpoint.parse(listener.localDescription).get().port as Int?)

        let client = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(client) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        #expect(exchange(client, port: port, "a") == "re:a")

        // As NIO does after a send error it does not tolerate.
        let first = try #require(listener.channel)
        try await first.close()
        var answered: String?
        for _ in 0..<100 where answered == nil {
            try await Task.sleep(for: .milliseconds(50))
            if let now = listener.channel, now !== first { answered = exchange(client, port: port, "b") }
        }
        #expect(answered == "re:b")
        #expect(log.messages(atLeast: .error).contains { $0.contains("closed the socket of udp-responder \"r\"") })

        await listener.stopAccepting()
        try await group.shutdownGracefully()
    }
}
