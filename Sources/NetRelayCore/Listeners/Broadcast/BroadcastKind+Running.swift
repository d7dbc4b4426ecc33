import NetRelayConfig

/// How a `broadcast-rebroadcaster` listener runs: its row in the table of kinds (keys and decoding in
/// Sources/NetRelayConfig/Kinds/Broadcast/).
extension BroadcastKind: DatagramKind {
    typealias Role = BroadcastRole

    var counters: [Counter] {
        [.datagramsIn, .datagramsOut, .droppedRateLimited, .droppedOversize, .droppedSendQueueFull, .droppedInKernel, .droppedTotalRateLimit,
         .droppedOwnPacket, .droppedSourceNotAllowed, .droppedInterfaceNotListed, .skippedIngressTarget, .ownEchoesDroppedInKernel,
         .sendErrors, .socketsAdopted]
    }

    var families: [ExtraFamily] { RelayTargetTable.families }
}
