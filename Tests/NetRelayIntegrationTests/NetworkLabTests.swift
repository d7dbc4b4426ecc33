import Foundation
import Testing

/// The namespace lab itself: if this fails, the subnet tests of the listeners cannot be trusted.
@Suite("Network namespace lab", .enabled(if: NetworkLab.unavailableReason == nil, "\(NetworkLab.unavailableReason ?? "")"))
struct NetworkLabTests {
    @Test("Hosts on the lab bridge reach each other and no other network")
    func hostsReachEachOther() throws {
        let lab = try NetworkLab(hosts: 3)
        defer { lab.destroy() }
        try lab.exec(1, ["ping", "-c", "1", "-W", "2", lab.address(2)])
        try lab.exec(3, ["ping", "-c", "1", "-W", "2", lab.address(1)])
        // Only the lab subnet, loopback and the multicast route exist: no way out.
        let routes = try lab.exec(2, ["ip", "route", "show"])
        #expect(!routes.contains("default"))
        #expect(routes.contains("224.0.0.0/4 dev eth0"))
    }
}
