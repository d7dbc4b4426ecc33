/// How a `multicast-announcer` runs: its row in the table of kinds (keys and decoding in
/// Config/MulticastKind+Schema.swift).
extension MulticastKind: ListenerKind {
    func makeListener(name: String, spec: MulticastSpec, context: ListenerContext) -> any Listener {
        MulticastAnnouncer(name: name, spec: spec, context: context)
    }

    func addStatus(_ s: ListenerStats, of name: String, to status: inout StatusTally) {
        status.addAnnouncements(s.value(.announcements))
    }

    var counters: [Counter] { [.announcements, .missedDeadlines, .sendErrors] }

    var holdsConnections: Bool { false }
}
