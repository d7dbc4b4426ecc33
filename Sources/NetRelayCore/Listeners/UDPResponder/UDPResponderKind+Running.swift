import NetRelayConfig

/// How a `udp-responder` listener runs: its row in the table of kinds (keys and decoding in
/// Sources/NetRelayConfig/Kinds/UDPResponder/).
extension UDPResponderKind: ListenerKind {
    func makeShared(_ daemon: DaemonResources) -> NothingShared { NothingShared() }

    func listener(name: String, spec: UDPResponderSpec, context: ListenerContext, shared: NothingShared) -> any Listener {
        UDPResponderListener(name: name, spec: spec, context: context)
    }

    func addStatus(_ l: ListenerSnapshot, to status: inout StatusTally) {
        status.addDatagrams(received: l.value(.datagramsIn), sent: l.value(.datagramsOut), dropped: l.dropped)
    }

    var counters: [Counter] {
        [.datagramsIn, .datagramsOut, .droppedRateLimited, .droppedOversize, .droppedSendQueueFull, .droppedInKernel, .droppedTotalRateLimit,
         .droppedBadSource, .droppedEmpty, .sendErrors, .socketsAdopted]
    }

    var families: [ExtraFamily] { [] }

    var holdsConnections: Bool { false }
}
