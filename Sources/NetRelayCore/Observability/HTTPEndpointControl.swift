import Logging
import NIOPosix
import NetRelayConfig

/// Owns the HTTP endpoint across reloads: a reload can add, move or remove it. Like the
/// supervisor, it frees the old port before the listeners bind, and binds the new one after.
public actor HTTPEndpointControl {
    private let group: MultiThreadedEventLoopGroup
    private let source: ObservabilitySource
    private let logger: Logger
    private var running: HTTPEndpoint?

    public init(group: MultiThreadedEventLoopGroup, source: ObservabilitySource, logger: Logger) {
        self.group = group
        self.source = source
        self.logger = logger
    }

    public var localDescription: String? { running?.localDescription }

    /// Stops the running endpoint if `wanted` is different (before the listeners reload).
    public func release(unless wanted: HTTPEndpointSpec?) async {
        await release(unless: wanted, because: wanted == nil ? ": removed from the configuration" : ": moving to \(wanted!.listen)")
    }

    private func release(unless wanted: HTTPEndpointSpec?, because reason: String) async {
        guard let r = running, r.spec != wanted else { return }
        running = nil
        await r.stop()
        logger.info("Stopped the HTTP endpoint on \(r.localDescription)\(reason)", metadata: ["event": "removed"])
    }

    /// Starts the endpoint for `wanted` unless it already runs. Throws `HTTPEndpointStartError`.
    public func apply(_ wanted: HTTPEndpointSpec?) async throws {
        await release(unless: wanted)
        guard let wanted, running == nil else { return }
        let endpoint = HTTPEndpoint(spec: wanted, group: group, source: source, logger: logger)
        try await endpoint.start()
        running = endpoint
    }

    /// At shutdown, after the listeners drained (so /-/ready said "shutting down" meanwhile).
    public func stop() async {
        await release(unless: nil, because: "")
    }
}
