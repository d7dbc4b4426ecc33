import Logging
import NIOCore
import NetRelayConfig

/// Who may connect: the limits and address lists of a tcp-echo listener.
struct AdmissionPolicy: Sendable, Equatable {
    var maxConnections: Int
    var maxConnectionsPerSource: Int
    var allow: [CIDRBlock]
    var deny: [CIDRBlock]

    enum Decision: Equatable {
        case admit
        case refuse(Counter)
    }

    init(_ spec: TCPEchoSpec) {
        maxConnections = spec.maxConnections
        maxConnectionsPerSource = spec.maxConnectionsPerSource
        allow = spec.allow
        deny = spec.deny
    }

    /// Deny beats allow; an empty allow list allows everyone.
    func decide(peer: IPAddress?, open: Int, openFromPeer: Int) -> Decision {
        if let peer {
            if deny.matches(peer) { return .refuse(.refusedDenied) }
            if !allow.isEmpty && !allow.matches(peer) { return .refuse(.refusedDenied) }
        }
        if open >= maxConnections { return .refuse(.refusedOverLimit) }
        if maxConnectionsPerSource > 0 && openFromPeer >= maxConnectionsPerSource { return .refuse(.refusedPerSource) }
        return .admit
    }
}

/// Sits in the server channel's pipeline, before NIO's accept handler, and sees each accepted
/// connection before it is registered: refuses those the policy rejects (accept, then close at
/// once, as Node does over `maxConnections`), and keeps the open ones so that shutdown and
/// restarts can close them gracefully. All its state lives on the server channel's event loop;
/// the connections it admits run on every loop of the group, and each one's close is counted
/// back on the gate's loop (`register`), so the limits hold across loops.
final class ConnectionGate: ChannelInboundHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    var policy: AdmissionPolicy
    private let stats: ListenerStats
    private let refusals: SummaryReporter
    private var open: [ObjectIdentifier: Channel] = [:]
    private var openBySource: [IPAddress: Int] = [:]
    private var drainWaiters: [(Set<ObjectIdentifier>, EventLoopPromise<Void>)] = []
    private var eventLoop: EventLoop?

    init(policy: AdmissionPolicy, stats: ListenerStats, logger: Logger) {
        self.policy = policy
        self.stats = stats
        self.refusals = SummaryReporter(logger: logger, event: "refused", what: "connections refused")
    }

    func handlerAdded(context: ChannelHandlerContext) {
        eventLoop = context.eventLoop
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        let peerAddress = child.remoteAddress
        let peer = peerAddress.flatMap { IPAddress($0)?.unmapped }
        let fromPeer = peer.map { openBySource[$0, default: 0] } ?? 0
        switch policy.decide(peer: peer, open: open.count, openFromPeer: fromPeer) {
        case .refuse(let reason):
            stats.add(reason)
            let who = peerAddress.flatMap(Endpoint.init)?.description ?? "unknown peer"
            refusals.note(reason, peer: who, eventLoop: context.eventLoop) {
                "Refused connection from \(who): \(self.explain(reason))"
            }
            // Not yet registered with a loop: closing it here only closes the file descriptor.
            child.close(promise: nil)
        case .admit:
            stats.add(.connectionsAccepted)
            register(child, peer: peer, loop: context.eventLoop)
            context.fireChannelRead(data)
        }
    }

    private func register(_ child: Channel, peer: IPAddress?, loop: EventLoop) {
        let id = ObjectIdentifier(child)
        open[id] = child
        if let peer { openBySource[peer, default: 0] += 1 }
        stats.openConnections.wrappingIncrement(ordering: .relaxed)
        let me = NIOLoopBound(self, eventLoop: loop)
        child.closeFuture.whenComplete { _ in
            loop.execute { me.value.release(id, peer: peer) }
        }
    }

    /// A connection adopted from the previous instance (already registered on its own loop):
    /// judged by the same policy and counted as open. Returns the refusal, if any (the caller
    /// closes it). Call on the gate's loop.
    func adopt(_ child: Channel) -> Counter? {
        guard let loop = eventLoop else { return .refusedOverLimit }
        let peer = child.remoteAddress.flatMap { IPAddress($0)?.unmapped }
        let fromPeer = peer.map { openBySource[$0, default: 0] } ?? 0
        if case .refuse(let reason) = policy.decide(peer: peer, open: open.count, openFromPeer: fromPeer) {
            stats.add(reason)
            return reason
        }
        stats.add(.connectionsAdopted)
        register(child, peer: peer, loop: loop)
        return nil
    }

    /// The connections open now, for a hand-over to the next instance. Call on the gate's loop.
    var openChannels: [Channel] { Array(open.values) }

    private func release(_ id: ObjectIdentifier, peer: IPAddress?) {
        guard open.removeValue(forKey: id) != nil else { return }
        stats.openConnections.wrappingDecrement(ordering: .relaxed)
        if let peer {
            let n = openBySource[peer, default: 1] - 1
            openBySource[peer] = n > 0 ? n : nil
        }
        drainWaiters.removeAll { ids, promise in
            guard ids.contains(id) else { return false }
            if ids.allSatisfy({ open[$0] == nil }) {
                promise.succeed(())
                return true
            }
            return false
        }
    }

    /// Asks every connection open now to finish gracefully; force-closes whatever is still
    /// open after `gracePeriod`. Succeeds when all of them are closed. Call on the gate's loop.
    func quiesceOpenConnections(gracePeriod: TimeAmount) -> EventLoopFuture<Void> {
        guard let loop = eventLoop else { preconditionFailure("gate not in a pipeline") }
        loop.preconditionInEventLoop()
        let ids = Set(open.keys)
        if ids.isEmpty { return loop.makeSucceededFuture(()) }
        let promise = loop.makePromise(of: Void.self)
        drainWaiters.append((ids, promise))
        let children = ids.compactMap { open[$0] }
        for child in children {
            child.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        let me = NIOLoopBound(self, eventLoop: loop)
        let deadline = loop.scheduleTask(in: gracePeriod) {
            for id in ids { me.value.open[id]?.close(promise: nil) }
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        return promise.futureResult
    }

    private func explain(_ reason: Counter) -> String {
        switch reason {
        case .refusedOverLimit: return "over maxConnections (\(policy.maxConnections))"
        case .refusedPerSource: return "over maxConnectionsPerSource (\(policy.maxConnectionsPerSource))"
        case .refusedDenied: return "source not permitted by allow/deny"
        default: return reason.label
        }
    }
}

