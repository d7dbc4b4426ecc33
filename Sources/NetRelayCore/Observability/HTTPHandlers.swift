import Atomics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NetRelayConfig

// The endpoint's channel handlers: request limits, error replies, the routes.

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
