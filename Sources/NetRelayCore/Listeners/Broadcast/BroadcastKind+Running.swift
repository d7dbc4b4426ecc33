import NetRelayConfig

/// How a `broadcast-rebroadcaster` listener runs: its row in the table of kinds (keys and decoding in
/// Sources/NetRelayConfig/Kinds/Broadcast/).
extension BroadcastKind: ListenerKind {
    func makeShared(_ daemon: DaemonResources) -> NothingShared { NothingShared() }

    func listener(name: String, spec: BroadcastSpec, context: ListenerContext, shared: NothingShared) -> any Listener {
        BroadcastListener(name: name, spec: spec, context: context)
    }

    func addStatus(_ l: ListenerSnapshot, to status: inout StatusTally) {
        status.addDatagrams(received: l.value(.datagramsIn), sent: l.value(.datagramsOut), dropped: l.dropped)
    }

    var counters: [Counter] {
        [.datagramsIn, .datagramsOut, .droppedRateLimited, .droppedOversize, .droppedSendQueueFull, .droppedInKernel, .droppedTotalRateLimit,
         .droppedOwnPacket, .droppedSourceNotAllowed, .droppedInterfaceNotListed, .skippedIngressTarget, .ownEchoesDroppedInKernel,
         .sendErrors, .socketsAdopted]
    }

    var families: [ExtraFamily] { RelayTargetTable.families }

    var holdsConnections: Bool { false }
}
