import NIOCore
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// Resolving the `"interface"` setting against a made-up interface list.
@Suite("Multicast interface resolution")
struct AnnouncerInterfaceTests {
    static func device(_ name: String, _ address: String?, index: Int, multicast: Bool = true) -> NIONetworkDevice {
        NIONetworkDevice(name: name, address: address.map { try! SocketAddress(ipAddress: $0, port: 0) }, netmask: nil, broadcastAddress: nil,
                         pointToPointDestinationAddress: try! SocketAddress(ipAddress: "0.0.0.0", port: 0), multicastSupported: multicast, interfaceIndex: index)
    }

    /// lo (no MULTICAST flag, like Linux's), eth0 with IPv4 and two IPv6 addresses, an
    /// AF_PACKET-only entry (no address) for eth1, and wg0 with IPv4 only.
    let devices = [
        device("lo", "127.0.0.1", index: 1, multicast: false),
        device("lo", "::1", index: 1, multicast: false),
        device("eth0", nil, index: 2),
        device("eth0", "192.0.2.10", index: 2),
        device("eth0", "fe80::1", index: 2),
        device("eth0", "2001:db8::10", index: 2),
        device("eth1", nil, index: 3),
        device("wg0", "10.9.0.1", index: 4),
    ]
    let v4Group = IPAddress("239.255.0.1")!
    let v6Group = IPAddress("ff05::1:3")!

    @Test("A name and an IPv4 group: the interface's IPv4 address")
    func nameIPv4() throws {
        let i = try AnnouncerInterface.resolve("eth0", for: v4Group, devices: devices).get()
        #expect(i.name == "eth0" && i.index == 2 && i.address == IPAddress("192.0.2.10"))
    }

    @Test("A name and an IPv6 group: its index, shown with a global address rather than the link-local one")
    func nameIPv6() throws {
        let i = try AnnouncerInterface.resolve("eth0", for: v6Group, devices: devices).get()
        #expect(i.index == 2 && i.address == IPAddress("2001:db8::10"))
    }

    @Test("An address names the interface that has it")
    func byAddress() throws {
        let i = try AnnouncerInterface.resolve("10.9.0.1", for: v4Group, devices: devices).get()
        #expect(i.name == "wg0" && i.index == 4)
        let j = try AnnouncerInterface.resolve("fe80::1", for: v6Group, devices: devices).get()
        #expect(j.name == "eth0" && j.address == IPAddress("fe80::1"))
    }

    @Test("Loopback resolves; its copy for joining claims multicast support, other interfaces keep theirs")
    func loopback() throws {
        let i = try AnnouncerInterface.resolve("lo", for: v4Group, devices: devices).get()
        #expect(i.address == IPAddress("127.0.0.1") && !i.multicastFlag)
        #expect(i.deviceForJoin.multicastSupported)
        let eth = try AnnouncerInterface.resolve("eth0", for: v4Group, devices: devices).get()
        var withoutFlag = eth.device
        withoutFlag.multicastSupported = false
        #expect(!AnnouncerInterface(device: withoutFlag, address: eth.address).deviceForJoin.multicastSupported)
    }

    @Test("Unknown names and addresses: errors naming them and listing what exists")
    func unknown() {
        #expect(AnnouncerInterface.resolve("eth9", for: v4Group, devices: devices) == .failure(.noSuchInterface("eth9", available: ["lo", "eth0", "eth1", "wg0"])))
        let e = AnnouncerInterface.ResolutionError.noSuchInterface("eth9", available: ["lo", "eth0"])
        #expect(e.description == "no network interface named \"eth9\" on this host (it has lo, eth0); set \"interface\" to one of them or to one of their addresses")
        #expect(AnnouncerInterface.resolve("192.0.2.99", for: v4Group, devices: devices) == .failure(.noSuchAddress(IPAddress("192.0.2.99")!, available: ["lo", "eth0", "eth1", "wg0"])))
    }

    @Test("An interface without an address of the group's family")
    func wrongFamily() {
        #expect(AnnouncerInterface.resolve("wg0", for: v6Group, devices: devices) == .failure(.noAddressOfFamily("wg0", ipv4: false)))
        #expect(AnnouncerInterface.resolve("eth1", for: v4Group, devices: devices) == .failure(.noAddressOfFamily("eth1", ipv4: true)))
    }

    @Test("Socket options: TTL/hops and loop always, the interface by address (IPv4) or index (IPv6)")
    func socketOptions() throws {
        var m = AnnouncerSpec(group: v4Group, port: 8088)
        m.ttl = 128
        m.loopback = false
        let lo = try AnnouncerInterface.resolve("lo", for: v4Group, devices: devices).get()
        #expect(AnnouncerSocketOption.all(for: m, interface: lo) == [.ipv4TTL(128), .ipv4Loop(false), .ipv4Interface(IPAddress("127.0.0.1")!)])
        #expect(AnnouncerSocketOption.all(for: m, interface: nil) == [.ipv4TTL(128), .ipv4Loop(false)])
        var m6 = AnnouncerSpec(group: v6Group, port: 8088)
        m6.ttl = 5
        let eth = try AnnouncerInterface.resolve("eth0", for: v6Group, devices: devices).get()
        #expect(AnnouncerSocketOption.all(for: m6, interface: eth) == [.ipv6Hops(5), .ipv6Loop(true), .ipv6Interface(index: 2, name: "eth0")])
    }
}
