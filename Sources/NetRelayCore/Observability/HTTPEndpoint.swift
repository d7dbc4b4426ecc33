import Atomics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where the HTTP endpoint gets its answers.
public struct ObservabilitySource: Sendable {
    /// Everything `/metrics`, `/-/ready` and `/status.json` report, read now.
    public var snapshot: @Sendable () async -> DaemonSnapshot
    /// Nil while the event loops answer; read without the supervisor.
    public var unhealthyReason: @Sendable () -> String?

    public init(snapshot: @escaping @Sendable () async -> DaemonSnapshot, unhealthyReason: @escaping @Sendable () -> String?) {
        self.snapshot = snapshot
        self.unhealthyReason = unhealthyReason
    }
}

/// The fixed limits of the HTTP endpoint: it serves scrapers and health checks, and must not be
/// a way to hurt the listeners that share its event loops.
public struct HTTPEndpointLimits: Sendable {
    /// Connections at once; more are closed at accept.
    public var maxConnections = 16
    /// The request line and headers together (NIOHTTP1's decoder limits, and a byte cap in
    /// front of it for the request line, which the decoder does not bound); over it: 431.
    public var maxHeadBytes = 8 * 1024
    public var maxHeaderFields = 64
    /// A request body (none is expected) larger than this closes the connection.
    public var maxBodyBytes = 4 * 1024
    /// From accept, or from the end of the previous response, until a request head is complete;
    /// also how long an idle keep-alive connection stays open.
    public var requestTimeout: TimeAmount = .seconds(10)
    /// A peer that leaves a response unread this long (the write buffer above its high-water
    /// mark) is cut off.
    public var writeStallTimeout: TimeAmount = .seconds(10)
    public var writeBufferHighWaterMark = 256 * 1024

    public init() {}
}

/// Why the HTTP endpoint did not start.
public struct HTTPEndpointStartError: Error, Sendable, CustomStringConvertible {
    public var address: String
    public var reason: String
    public var errno: Int32?

    public var description: String { "Failed to bind the HTTP endpoint to \(address): \(reason)" }
}

/// The built-in HTTP server: `/metrics`, `/-/healthy`, `/-/ready`, `/status.json` and a
/// landing page, on the daemon's event loops (NIOHTTP1, no framework).
public final class HTTPEndpoint: Sendable {
    public let spec: HTTPEndpointSpec
    private let group: MultiThreadedEventLoopGroup
    private let source: ObservabilitySource
    private let limits: HTTPEndpointLimits
    private let logger: Logger
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    private let connections = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])
    private let local = NIOLockedValueBox<String>("")

    public init(spec: HTTPEndpointSpec, group: MultiThreadedEventLoopGroup, source: ObservabilitySource, limits: HTTPEndpointLimits = .init(), logger: Logger) {
        self.spec = spec
        self.group = group
        self.source = source
        self.limits = limits
        self.logger = logger
    }

    /// Where it serves once started (a port of 0 resolved).
    public var localDescription: String { local.withLockedValue { $0 } }

    public func start() async throws {
        let limits = self.limits, source = self.source, logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // A scraper that stops reading pins at most this much kernel memory (the kernel
            // doubles it) on top of the write buffer, and is found stalled soon after.
            .childChannelOption(.socketOption(.so_sndbuf), value: 64 * 1024)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: limits.writeBufferHighWaterMark / 2, high: limits.writeBufferHighWaterMark))
            .childChannelInitializer { [self] channel in
                let admitted = connections.withLockedValue { open -> Bool in
                    guard open.count < limits.maxConnections else { return false }
                    open[ObjectIdentifier(channel)] = channel
                    return true
                }
                guard admitted else {
                    logger.debug("HTTP endpoint: refused a connection over \(limits.maxConnections) at once", metadata: ["event": "http-refused"])
                    return channel.close()
                }
                channel.closeFuture.whenComplete { [self] _ in
                    _ = connections.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try HTTPEndpoint.configure(channel, limits: limits, source: source)
                }
            }
        let channel: Channel
        do {
            channel = try await bootstrap.bind(to: try spec.listen.socketAddress()).get()
        } catch {
            let (reason, code) = describeSocketError(error)
            throw HTTPEndpointStartError(address: spec.listen.description, reason: reason, errno: code)
        }
        let bound = channel.localAddress.flatMap(Endpoint.init)?.description ?? spec.listen.description
        local.withLockedValue { $0 = bound }
        serverChannel.withLockedValue { $0 = channel }
        logger.info("Listening: HTTP endpoint on \(bound) (/metrics, /-/healthy, /-/ready, /status.json)", metadata: ["event": "listening", "address": .string(bound)])
    }

    /// Closes the listening socket (the port is free when this returns) and every connection.
    public func stop() async {
        let channel = serverChannel.withLockedValue { c -> Channel? in
            defer { c = nil }
            return c
        }
        try? await channel?.close()
        let open = connections.withLockedValue { $0.values }
        for c in open { try? await c.close() }
    }

    static func configure(_ channel: Channel, limits: HTTPEndpointLimits, source: ObservabilitySource) throws {
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderListSize = limits.maxHeadBytes
        decoderLimits.maxHeaderFieldSize = limits.maxHeadBytes
        decoderLimits.maxHeaderFieldCount = limits.maxHeaderFields
        let budget = RequestBudget()
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(HeadSizeGuard(budget: budget, limit: limits.maxHeadBytes))
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false,
                                             withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
        try sync.addHandler(HTTPErrorReplyHandler())
        try sync.addHandler(ObservabilityRequestHandler(source: source, limits: limits, budget: budget))
    }
}

/// Bytes read since the last complete request head: shared by the guard in front of the
/// decoder and the handler behind it, on one event loop.
final class RequestBudget {
    var headBytes = 0
    var inHead = true
}

/// Caps the bytes a request head may take before the decoder sees them (NIOHTTP1 bounds the
/// headers, not the request line). Over the cap: 431 and close.
final class HeadSizeGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let budget: RequestBudget
    private let limit: Int
    private var tripped = false

    init(budget: RequestBudget, limit: Int) {
        self.budget = budget
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !tripped else { return }
        if budget.inHead {
            budget.headBytes += unwrapInboundIn(data).readableBytes
            // The head plus what may follow it in the same read (a pipelined request) is allowed twice the limit.
            if budget.headBytes > 2 * limit {
                tripped = true
                context.fireErrorCaught(HTTPParserError.headerOverflow)
                return
            }
        }
        context.fireChannelRead(data)
    }
}

/// Answers a request the decoder could not parse — 431 for a head over the limits, 400
/// otherwise — and closes the connection (as NIO's HTTPServerProtocolErrorHandler does, with
/// the status that says what was wrong).
final class HTTPErrorReplyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart
    private var responding = false
    private var closed = false

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !closed else { return }
        closed = true
        if !responding {
            let tooLarge = parserError == .headerOverflow
            let body = tooLarge ? "Request header fields too large\n" : "Bad request\n"
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            let headers = HTTPHeaders([("Connection", "close"), ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "\(body.utf8.count)")])
            let head = HTTPResponseHead(version: .http1_1, status: tooLarge ? .requestHeaderFieldsTooLarge : .badRequest, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: responding = true
        case .body: break
        case .end: responding = false
        }
        context.write(data, promise: promise)
    }
}

/// Routes GET and HEAD requests to their answers, enforces the request timeout and cuts off a
/// peer that does not read its responses.
final class ObservabilityRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let source: ObservabilitySource
    private let limits: HTTPEndpointLimits
    private let budget: RequestBudget
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var requestTimer: Scheduled<Void>?
    private var stallTimer: Scheduled<Void>?

    init(source: ObservabilitySource, limits: HTTPEndpointLimits, budget: RequestBudget) {
        self.source = source
        self.limits = limits
        self.budget = budget
    }

    func channelActive(context: ChannelHandlerContext) {
        armRequestTimer(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        requestTimer?.cancel()
        stallTimer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            bodyBytes = 0
            budget.inHead = false
            requestTimer?.cancel()
            requestTimer = nil
        case .body(let b):
            bodyBytes += b.readableBytes
            if bodyBytes > limits.maxBodyBytes { context.close(promise: nil) }
        case .end:
            guard let h = head else { return }
            head = nil
            respond(to: h, context)
        }
    }

    private func armRequestTimer(_ context: ChannelHandlerContext) {
        requestTimer?.cancel()
        budget.inHead = true
        budget.headBytes = 0
        requestTimer = context.eventLoop.assumeIsolated().scheduleTask(in: limits.requestTimeout) {
            // Idle keep-alive, or a head that never completes (slowloris): close.
            context.close(promise: nil)
        }
    }

    private func respond(to h: HTTPRequestHead, _ context: ChannelHandlerContext) {
        guard h.method == .GET || h.method == .HEAD else {
            write(.methodNotAllowed, for: h, context)
            return
        }
        let route = HTTPRoute(path: h.uri)
        guard route.needsSnapshot else {
            let reply: HTTPReply = route == .healthy ? .healthy(unhealthyReason: source.unhealthyReason())
                : HTTPReply.answer(route, snapshot: Self.placeholder)
            write(reply, for: h, context)
            return
        }
        let promise = context.eventLoop.makePromise(of: DaemonSnapshot.self)
        let source = self.source
        promise.completeWithTask { await source.snapshot() }
        promise.futureResult.assumeIsolated().whenSuccess { snapshot in
            guard context.channel.isActive else { return }
            self.write(HTTPReply.answer(route, snapshot: snapshot), for: h, context)
        }
    }

    /// For the routes that read nothing from it.
    private static let placeholder = DaemonSnapshot(version: "", startTime: 0, process: nil, listeners: [], reloads: ReloadFacts(lastTimestamp: 0),
                                                   loopLateness: .empty, notReadyReason: nil, unhealthyReason: nil, statusLine: "")

    private func write(_ reply: HTTPReply, for request: HTTPRequestHead, _ context: ChannelHandlerContext) {
        var headers = HTTPHeaders([("Content-Type", reply.contentType), ("Content-Length", "\(reply.body.utf8.count)"), ("Cache-Control", "no-store")])
        for (k, v) in reply.extraHeaders { headers.add(name: k, value: v) }
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: reply.status, reasonPhrase: reply.reasonPhrase)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: reply.body.utf8.count)
            buffer.writeString(reply.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if keepAlive {
            armRequestTimer(context)
        } else {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stallTimer?.cancel()
            stallTimer = nil
        } else if stallTimer == nil {
            stallTimer = context.eventLoop.assumeIsolated().scheduleTask(in: limits.writeStallTimeout) {
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
