#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetRelayConfig

/// How a `multicast-announcer` listener runs: its row in the table of kinds (keys and decoding in
/// Sources/NetRelayConfig/Kinds/Announcer/).
extension AnnouncerKind: ListenerKind {
    func makeShared(_ daemon: DaemonResources) -> AnnouncerHost { AnnouncerHost(name: AnnouncerHost.current()) }

    func listener(name: String, spec: AnnouncerSpec, context: ListenerContext, shared host: AnnouncerHost) -> any Listener {
        AnnouncerListener(name: name, spec: spec, context: context, hostName: host.name)
    }

    func addStatus(_ l: ListenerSnapshot, to status: inout StatusTally) {
        status.addAnnouncements(l.value(.announcements))
    }

    var counters: [Counter] { [.announcements, .missedDeadlines, .sendErrors] }

    var families: [ExtraFamily] { [AnnouncerListener.latenessFamily] }

    var holdsConnections: Bool { false }
}

/// This host's name, read once when the daemon starts: the `host` of every json announcement.
struct AnnouncerHost: KindShared {
    var name: String

    func configure(_ configuration: Configuration) {}
    var statistics: [String] { [] }

    static func current() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
