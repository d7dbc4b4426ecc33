/// How a `broadcast-rebroadcaster` listener runs: its row in the table of kinds (keys and
/// decoding in Config/BroadcastKind+Schema.swift).
extension BroadcastKind: ListenerKind {
    func makeListener(name: String, spec: BroadcastSpec, context: ListenerContext) -> any Listener {
        BroadcastListener(name: name, spec: spec, context: context)
    }

    func addStatus(_ s: ListenerStats, of name: String, to status: inout StatusTally) {
        status.addDatagrams(received: s.value(.datagramsIn), sent: s.value(.datagramsOut), dropped: s.total(StatusTally.datagramDrops))
    }

    var counters: [Counter] {
        [.datagramsIn, .datagramsOut, .droppedRateLimited, .droppedOversize, .droppedSendQueueFull, .droppedInKernel, .droppedTotalRateLimit,
         .droppedOwnPacket, .droppedSourceNotAllowed, .droppedInterfaceNotListed, .skippedIngressTarget, .ownEchoesDroppedInKernel,
         .sendErrors, .socketsAdopted]
    }

    var holdsConnections: Bool { false }
}
