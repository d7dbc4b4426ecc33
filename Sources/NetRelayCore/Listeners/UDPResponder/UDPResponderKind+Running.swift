import NetRelayConfig

/// How a `udp-responder` listener runs: its row in the table of kinds (keys and decoding in
/// Sources/NetRelayConfig/Kinds/UDPResponder/).
extension UDPResponderKind: DatagramKind {
    typealias Role = UDPResponderRole

    var counters: [Counter] {
        [.datagramsIn, .datagramsOut, .droppedRateLimited, .droppedOversize, .droppedSendQueueFull, .droppedInKernel, .droppedTotalRateLimit,
         .droppedBadSource, .droppedEmpty, .sendErrors, .socketsAdopted]
    }

    var families: [ExtraFamily] { [] }
}
