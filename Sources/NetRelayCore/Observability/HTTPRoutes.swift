import NetRelayConfig

/// What each path of the HTTP endpoint answers: a pure function of the request and a
/// snapshot, so the rules are tested without a socket.
public enum HTTPRoute: Sendable, Equatable {
    case landing, metrics, healthy, ready, status, notFound

    public init(path: String) {
        // The query string is ignored (Prometheus may add none, people may add some).
        let bare = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        switch bare {
        case "/": self = .landing
        case "/metrics": self = .metrics
        case "/-/healthy": self = .healthy
        case "/-/ready": self = .ready
        case "/status.json": self = .status
        default: self = .notFound
        }
    }

    /// Whether answering needs the supervisor's snapshot (`/-/healthy` must answer even while
    /// the supervisor is busy with a reload, so it does not).
    public var needsSnapshot: Bool {
        switch self {
        case .landing, .metrics, .ready, .status: return true
        case .healthy, .notFound: return false
        }
    }
}

/// A response before encoding.
public struct HTTPReply: Sendable, Equatable {
    public var status: Int
    public var reasonPhrase: String
    public var contentType: String
    public var body: String
    public var extraHeaders: [(String, String)] = []

    public init(_ status: Int, _ reasonPhrase: String, contentType: String = "text/plain; charset=utf-8", body: String, extraHeaders: [(String, String)] = []) {
        self.status = status
        self.reasonPhrase = reasonPhrase
        self.contentType = contentType
        self.body = body
        self.extraHeaders = extraHeaders
    }

    public static func == (a: HTTPReply, b: HTTPReply) -> Bool {
        a.status == b.status && a.contentType == b.contentType && a.body == b.body
            && a.extraHeaders.map { "\($0.0): \($0.1)" } == b.extraHeaders.map { "\($0.0): \($0.1)" }
    }

    public static let methodNotAllowed = HTTPReply(405, "Method Not Allowed", body: "Method not allowed: only GET and HEAD\n", extraHeaders: [("Allow", "GET, HEAD")])
    public static let notFound = HTTPReply(404, "Not Found", body: "Not found; see / for the endpoints\n")

    public static func healthy(unhealthyReason: String?) -> HTTPReply {
        if let reason = unhealthyReason { return HTTPReply(503, "Service Unavailable", body: "Unhealthy: \(TextEscaping.escape(reason, for: .line))\n") }
        return HTTPReply(200, "OK", body: "Healthy\n")
    }

    public static func answer(_ route: HTTPRoute, snapshot s: DaemonSnapshot) -> HTTPReply {
        switch route {
        case .metrics: return HTTPReply(200, "OK", contentType: PrometheusExposition.contentType, body: PrometheusExposition.render(s))
        case .status: return HTTPReply(200, "OK", contentType: "application/json", body: StatusDocument.render(s))
        case .ready:
            if let reason = s.notReadyReason { return HTTPReply(503, "Service Unavailable", body: "Not ready: \(TextEscaping.escape(reason, for: .line))\n") }
            return HTTPReply(200, "OK", body: "Ready\n")
        case .healthy: return healthy(unhealthyReason: s.unhealthyReason)
        case .landing: return StatusPage.reply(s)
        case .notFound: return notFound
        }
    }
}
