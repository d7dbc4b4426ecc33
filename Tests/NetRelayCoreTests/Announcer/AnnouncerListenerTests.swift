import Logging
import NIOCore
import NIOPosix
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// What a reload may change in place. No socket is opened.
@Suite("Multicast announcer reload rules")
struct AnnouncerListenerTests {
    func spec(_ edit: (inout AnnouncerSpec) -> Void = { _ in }) -> ListenerSpec {
        var m = AnnouncerSpec(group: IPAddress("239.255.0.1")!, port: 8088)
        m.interface = "lo"
        edit(&m)
        return ListenerSpec(name: "time", kindSpec: m)
    }

    @Test("Format, interval, ttl and loopback apply in place; group, port, interface and joinGroup restart")
    func canUpdate() {
        let announcer = AnnouncerListener(name: "time", spec: AnnouncerListener.typedSpec(spec())!, context: ListenerContext(group: .singletonMultiThreadedEventLoopGroup, logger: Logger(label: "test")), hostName: "h")
        #expect(announcer.canUpdate(to: spec { $0.format = .locale }))
        #expect(announcer.canUpdate(to: spec { $0.interval = 0.5 }))
        #expect(announcer.canUpdate(to: spec { $0.ttl = 4 }))
        #expect(announcer.canUpdate(to: spec { $0.loopback = false }))
        #expect(!announcer.canUpdate(to: spec { $0.group = IPAddress("239.255.0.2")! }))
        #expect(!announcer.canUpdate(to: spec { $0.port = 8089 }))
        #expect(!announcer.canUpdate(to: spec { $0.interface = "127.0.0.1" }))
        #expect(!announcer.canUpdate(to: spec { $0.joinGroup = true }))
        #expect(!announcer.canUpdate(to: ListenerSpec(name: "time", kindSpec: TCPEchoSpec(listen: Endpoint(address: .v4(0x7F00_0001), port: 1)))))
        #expect(announcer.localDescription == "239.255.0.1:8088")
    }
}
