import NetRelayConfig

/// How a `tcp-echo` listener runs: its row in the table of kinds (keys and decoding in
/// Sources/NetRelayConfig/Kinds/TCPEcho/).
extension TCPEchoKind: ListenerKind {
    /// Every tcp-echo connection of the daemon counts against one memory budget.
    func makeShared(_ daemon: DaemonResources) -> MemoryBudget {
        MemoryBudget(logger: daemon.logger, timerLoop: daemon.group.next())
    }

    func listener(name: String, spec: TCPEchoSpec, context: ListenerContext, shared budget: MemoryBudget) -> any Listener {
        TCPEchoListener(name: name, spec: spec, context: context, budget: budget)
    }

    func addStatus(_ l: ListenerSnapshot, to status: inout StatusTally) {
        status.addConnections(open: l.openConnections, accepted: l.value(.connectionsAccepted),
                              refused: [.refusedOverLimit, .refusedPerSource, .refusedDenied, .refusedFdLimit].reduce(0) { $0 + l.value($1) })
        if l.atFdLimit { status.atFdLimit.append("\"\(l.name)\"") }
    }

    var counters: [Counter] {
        [.connectionsAccepted, .refusedOverLimit, .refusedPerSource, .refusedDenied, .closedIdle, .closedNotReading, .bytesIn, .bytesOut,
         .refusedFdLimit, .closedMemoryBudget, .connectionsAdopted, .socketsAdopted]
    }

    var families: [ExtraFamily] { [] }

    var holdsConnections: Bool { true }
}
