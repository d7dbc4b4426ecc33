import Atomics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NetRelayConfig

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
