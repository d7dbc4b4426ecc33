/// How a `udp-responder` listener runs: its row in the table of kinds (keys and decoding in
/// Config/UDPResponderKind+Schema.swift).
extension UDPResponderKind: ListenerKind {
    func makeListener(name: String, spec: UDPResponderSpec, context: ListenerContext) -> any Listener {
        UDPResponderListener(name: name, spec: spec, context: context)
    }

    func addStatus(_ s: ListenerStats, of name: String, to status: inout StatusTally) {
        status.addDatagrams(received: s.value(.datagramsIn), sent: s.value(.datagramsOut), dropped: s.total(StatusTally.datagramDrops))
    }

    var counters: [Counter] {
        [.datagramsIn, .datagramsOut, .droppedRateLimited, .droppedOversize, .droppedSendQueueFull, .droppedInKernel, .droppedTotalRateLimit,
         .droppedBadSource, .droppedEmpty, .sendErrors, .socketsAdopted]
    }

    var holdsConnections: Bool { false }
}
