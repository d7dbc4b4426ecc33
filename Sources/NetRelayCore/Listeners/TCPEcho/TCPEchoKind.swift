/// How a `tcp-echo` listener runs: its row in the table of kinds (keys and decoding in
/// Config/TCPEchoKind+Schema.swift).
extension TCPEchoKind: ListenerKind {
    func makeListener(name: String, spec: TCPEchoSpec, context: ListenerContext) -> any Listener {
        TCPEchoListener(name: name, spec: spec, context: context)
    }

    func addStatus(_ s: ListenerStats, of name: String, to status: inout StatusTally) {
        status.addConnections(open: s.open, accepted: s.value(.connectionsAccepted),
                              refused: s.total([.refusedOverLimit, .refusedPerSource, .refusedDenied, .refusedFdLimit]))
        if s.atFdLimit.load(ordering: .relaxed) { status.atFdLimit.append("\"\(name)\"") }
    }

    var counters: [Counter] {
        [.connectionsAccepted, .refusedOverLimit, .refusedPerSource, .refusedDenied, .closedIdle, .closedNotReading, .bytesIn, .bytesOut,
         .refusedFdLimit, .closedMemoryBudget, .connectionsAdopted, .socketsAdopted]
    }

    var holdsConnections: Bool { true }
}
