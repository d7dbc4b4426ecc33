/// `tcp-echo`: the classic `net.createServer` echo.
public struct TCPEchoSpec: Sendable, Equatable {
    public var listen: Endpoint
    /// Sent before each chunk echoed back ("Confirm data: " in the classic example); empty: pure RFC 862 echo.
    public var replyPrefix: String = ""
    /// Connections over the limit are accepted and closed at once, as Node does.
    public var maxConnections: Int = 1024
    /// 0: no per-source limit.
    public var maxConnectionsPerSource: Int = 0
    /// After the peer's FIN, echo what is queued and then close (true), or close at once (false).
    public var allowHalfOpen: Bool = false
    /// Seconds without traffic before a connection is closed; 0: never.
    public var idleTimeout: Double = 300
    /// Empty: every source may connect (unless denied).
    public var allow: [CIDRBlock] = []
    /// Checked before `allow`: a denied source is refused even when allowed.
    public var deny: [CIDRBlock] = []
    public var reusePort: Bool = false
    public var backlog: Int = 256
    /// Stop reading from a peer while this many bytes wait to be written to it...
    public var writeBufferHighWaterMark: Int = 64 * 1024
    /// ...and resume once fewer than this many wait; by default `lowWaterMark(for:)` the high mark.
    public var writeBufferLowWaterMark: Int
    /// SO_SNDBUF / SO_RCVBUF for the listening socket, inherited by every accepted connection;
    /// nil: the kernel's autotuning (tcp_wmem / tcp_rmem). A fixed size switches autotuning off.
    public var sendBufferSize: Int?
    public var receiveBufferSize: Int?

    /// The most echo queued beyond the high-water mark for a peer that half-closed without
    /// reading (on a FIN, NIO drains the socket's receive buffer regardless of backpressure);
    /// past it the connection is closed. 8 MiB is above Linux's default maximum receive buffer
    /// (tcp_rmem 6 MiB), so a well-behaved half-closing peer never hits it.
    public var maxQueuedEcho: Int { max(16 * writeBufferHighWaterMark, 8 << 20) }

    public init(listen: Endpoint) {
        self.listen = listen
        writeBufferLowWaterMark = Self.lowWaterMark(for: writeBufferHighWaterMark)
    }

    /// The default low-water mark: 32 KiB, or half a smaller high mark.
    public static func lowWaterMark(for high: Int) -> Int { min(32 * 1024, high / 2) }
}

extension TCPEchoSpec: KindSpec {
    public static let kindName = "tcp-echo"
    public var address: ListenerAddress { .binds(listen, .tcp, reusePort: reusePort) }
    /// One listening socket, whatever the loops: NIO spreads its connections over them.
    public func footprint(eventLoops: Int) -> ListenerFootprint {
        ListenerFootprint(sockets: 1, storedSockets: 1, connections: ConnectionLimit(most: maxConnections, key: "maxConnections", handedOver: true))
    }
    /// The echo goes back on the connection it came from.
    public var relay: RelayPart { .doesNotRelay }

    public func warnings(_ w: inout ListenerWarnings) {
        if maxConnectionsPerSource > maxConnections {
            w.warn("maxConnectionsPerSource", "\(maxConnectionsPerSource) is more than maxConnections (\(maxConnections)), so it never applies")
        }
    }
}
