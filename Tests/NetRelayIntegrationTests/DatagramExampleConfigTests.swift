import Foundation
import Testing

/// The shipped datagram examples use real LAN addresses (192.168.56.x): they are checked with
/// `check-config` only, never run outside a namespace.
@Suite("Datagram example configurations")
struct DatagramExampleConfigTests {
    @Test("Each datagram example passes check-config", arguments: ["udp-responder.json", "lan-broadcast.json"])
    func checkConfig(file: String) throws {
        let path = Paths.packageRoot.appendingPathComponent("config/examples/\(file)").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Paths.netrelayd)
        p.arguments = ["check-config", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(out)")
        #expect(out.contains("configuration OK"))
    }
}
