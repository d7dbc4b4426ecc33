import Logging
import NIOPosix
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

@Suite("Observability: configuration, exposition, status, routes")
struct ObservabilityTests {
    // MARK: Configuration

    @Test("\"http\" is off when absent, and takes IPv4 and IPv6 addresses")
    func httpConfig() throws {
        let listener = "{\"name\": \"echo\", \"kind\": \"tcp-echo\", \"listen\": \"127.0.0.1:2000\"}"
        let off = try ConfigurationDecoder.decode("{\"listeners\": [\(listener)]}", file: "t.json").get()
        #expect(off.http == nil)
        let v4 = try ConfigurationDecoder.decode("{\"http\": {\"listen\": \"127.0.0.1:9477\"}, \"listeners\": [\(listener)]}", file: "t.json").get()
        #expect(v4.http?.listen.description == "127.0.0.1:9477")
        let v6 = try ConfigurationDecoder.decode("{\"http\": {\"listen\": \"[::1]:9477\"}, \"listeners\": [\(listener)]}", file: "t.json").get()
        #expect(v6.http?.listen.description == "[::1]:9477")
    }

    @Test("Mistakes in \"http\" are reported like every other key", arguments: [
        (#"{"htp": {"listen": "127.0.0.1:9477"}, "listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:2000"}]}"#,
         [#"t.json:1:2: htp: unknown key "htp" in the top level; did you mean "http"?"#]),
        (#"{"http": {"listn": "127.0.0.1:9477"}, "listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:2000"}]}"#,
         [#"t.json:1:10: http: missing required key "listen": an address and port such as "127.0.0.1:2000" or "[::1]:2000", e.g. "listen": "127.0.0.1:9477""#,
          #"t.json:1:11: http.listn: unknown key "listn" in "http"; did you mean "listen"?"#]),
        (#"{"http": "127.0.0.1:9477", "listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:2000"}]}"#,
         [#"t.json:1:10: http: expected the HTTP endpoint, e.g. {"listen": "127.0.0.1:9477"} (a JSON object {...}), got the string "127.0.0.1:9477""#]),
        (#"{"http": {"listen": "0.0.0.0:2000"}, "listeners": [{"name": "e", "kind": "tcp-echo", "listen": "127.0.0.1:2000"}]}"#,
         [#"t.json:1:21: http.listen: 0.0.0.0:2000/tcp is already claimed by listeners[0] ("e" on 127.0.0.1:2000); give the HTTP endpoint another port"#]),
    ])
    func httpConfigErrors(_ json: String, _ expected: [String]) {
        switch ConfigurationDecoder.decode(json, file: "t.json") {
        case .success: Issue.record("accepted a bad configuration")
        case .failure(let error): #expect(error.issues.map(\.description) == expected)
        }
    }

    @Test("A UDP listener on the HTTP endpoint's port is no conflict (different protocol)")
    func udpSamePortIsFine() throws {
        let json = #"{"http": {"listen": "127.0.0.1:2001"}, "listeners": [{"name": "u", "kind": "udp-responder", "listen": "127.0.0.1:2001"}]}"#
        #expect(throws: Never.self) { try ConfigurationDecoder.decode(json, file: "t.json").get() }
    }

    // MARK: Readiness

    @Test("Readiness follows the supervisor: starting until every listener is bound, then ready, then shutting down")
    func readinessFollowsTheSupervisor() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let spec = TCPEchoSpec(listen: try Endpoint.parse("127.0.0.1:0").get())
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let supervisor = Supervisor(configuration: Configuration(listeners: [ListenerSpec(name: "echo", kindSpec: spec)]),
                                    context: ListenerContext(group: group, logger: logger))
        #expect(await supervisor.notReadyReason == "starting: binding listeners")
        try await supervisor.start()
        #expect(await supervisor.notReadyReason == nil)
        let listeners = await supervisor.listenerSnapshots()
        #expect(listeners.map(\.name) == ["echo"])
        #expect(listeners.first?.state == .up)
        #expect(listeners.first?.address.hasPrefix("127.0.0.1:") == true && listeners.first?.address != "127.0.0.1:0")
        await supervisor.shutdown()
        #expect(await supervisor.notReadyReason == "shutting down")
        try await group.shutdownGracefully()
    }

    // MARK: Exposition

    static func counters(_ values: [Counter: Int]) -> [Int] {
        Counter.allCases.map { values[$0] ?? 0 }
    }

    static let snapshot: DaemonSnapshot = {
        var lateness = HistogramSnapshot.empty
        lateness.bucketCounts[0] = 3   // <= 1 ms
        lateness.bucketCounts[5] = 1   // <= 100 ms
        lateness.sumSeconds = 0.0625
        var loop = HistogramSnapshot.empty
        loop.bucketCounts[0] = 10
        loop.bucketCounts[12] = 1      // above 10 s
        loop.sumSeconds = 12.5
        var reloads = ReloadFacts(lastTimestamp: 1764620000.5)
        reloads.succeeded = 2
        reloads.failed = 1
        reloads.lastSuccessful = false
        reloads.lastSummary = "reload 3 FAILED"
        return DaemonSnapshot(
            version: "1.2.3", startTime: 1764619200, process: ProcessStats(openFDs: 12, maxFDs: 1024, residentMemoryBytes: 8_388_608, cpuSeconds: 1.25),
            listeners: [
                ListenerSnapshot(name: "echo", kind: TCPEchoKind().tag, address: "127.0.0.1:2000", state: .up, openConnections: 2,
                                 counters: counters([.connectionsAccepted: 5, .refusedOverLimit: 1, .closedIdle: 2, .bytesIn: 100, .bytesOut: 130])),
                ListenerSnapshot(name: "udp", kind: UDPResponderKind().tag, address: "[::1]:2001", state: .up,
                                 counters: counters([.datagramsIn: 7, .datagramsOut: 6, .droppedRateLimited: 1])),
                ListenerSnapshot(name: "time", kind: AnnouncerKind().tag, address: "239.255.0.1:8088", state: .up,
                                 counters: counters([.announcements: 4, .missedDeadlines: 1]),
                                 extras: ListenerExtras(samples: [ExtraSample(AnnouncerListener.latenessFamily, .histogram(lateness))])),
                ListenerSnapshot(name: "gone\"x", kind: BroadcastKind().tag, address: "127.0.0.1:2003", state: .down("Failed to bind")),
            ],
            reloads: reloads, loopLateness: loop, notReadyReason: "listener \"gone\\\"x\" is down: Failed to bind", unhealthyReason: nil,
            statusLine: "Serving 3 listeners")
    }()

    @Test("The exposition text for a known set of counters, exactly")
    func expositionExact() {
        let text = PrometheusExposition.render(Self.snapshot)
        #expect(text == Self.expectedExposition)
    }

    @Test("\"dropped\" is one figure: the sum of the listener's netrelayd_datagrams_dropped_total series, send errors and a kind's own reasons included, in /metrics, /status.json, STATUS= and SIGUSR1")
    func droppedIsOneFigure() {
        let duplicates = ExtraFamily(name: MetricFamily.datagramsDropped.rawValue, kind: .counter, help: MetricFamily.datagramsDropped.help, labels: ["reason"])
        let kind = ListenerKindTag(name: "udp-x", counters: [.datagramsIn, .datagramsOut, .droppedRateLimited, .sendErrors], families: [duplicates], holdsConnections: false)
        let l = ListenerSnapshot(name: "x", kind: kind, address: "127.0.0.1:9", state: .up,
                                 counters: Self.counters([.datagramsIn: 10, .datagramsOut: 3, .droppedRateLimited: 1, .sendErrors: 2]),
                                 extras: ListenerExtras(samples: [ExtraSample(duplicates, labels: ["duplicate"], .count(4))]))
        #expect(l.dropped == 7)
        var snapshot = Self.snapshot
        snapshot.listeners = [l]
        let text = PrometheusExposition.render(snapshot)
        let dropLines = text.split(separator: "\n").filter { $0.hasPrefix("netrelayd_datagrams_dropped_total{listener=\"x\"") }
        #expect(dropLines == [
            #"netrelayd_datagrams_dropped_total{listener="x",kind="udp-x",reason="rate_limit"} 1"#,
            #"netrelayd_datagrams_dropped_total{listener="x",kind="udp-x",reason="send_error"} 2"#,
            #"netrelayd_datagrams_dropped_total{listener="x",kind="udp-x",reason="duplicate"} 4"#,
        ])
        #expect(text.components(separatedBy: "# TYPE netrelayd_datagrams_dropped_total").count == 2, "one family block")
        #expect(StatusDocument.render(snapshot).contains(#""dropped": 7"#))
        var tally = StatusTally()
        UDPResponderKind().addStatus(l, to: &tally)
        #expect(tally.parts { 0 } == ["udp 10 in, 3 out, 7 dropped"])
        #expect(l.summary == "datagrams in=10, datagrams out=3, dropped=7, dropped by rate limit=1, send errors=2")
    }

    @Test("A kind's extra samples: only families its kind declares are exported, at most sampleLimit per listener")
    func extrasAreBounded() {
        let declared = ExtraFamily(name: "netrelayd_test_receiver_sent_total", kind: .counter, help: "Sent per receiver.", labels: ["receiver"])
        let undeclared = ExtraFamily(name: "netrelayd_test_peer_total", kind: .counter, help: "Per peer.", labels: ["peer"])
        let kind = ListenerKindTag(name: "udp-x", counters: [], families: [declared], holdsConnections: false)
        let many = (0..<(ListenerExtras.sampleLimit + 10)).map { ExtraSample(declared, labels: ["r\($0)"], .count($0)) }
        var snapshot = Self.snapshot
        snapshot.listeners = [ListenerSnapshot(name: "x", kind: kind, address: "", state: .up,
                                               extras: ListenerExtras(samples: [ExtraSample(undeclared, labels: ["1.2.3.4"], .count(1))] + many))]
        let text = PrometheusExposition.render(snapshot)
        #expect(!text.contains("netrelayd_test_peer_total"))
        #expect(text.contains("# TYPE netrelayd_test_receiver_sent_total counter\n"))
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("netrelayd_test_receiver_sent_total{") }.count == ListenerExtras.sampleLimit - 1)
        #expect(text.contains(#"netrelayd_test_receiver_sent_total{listener="x",kind="udp-x",receiver="r0"} 0"#))
    }

    @Test("Every counter is exported under a family that exists, with a distinct (family, reason)")
    func everyCounterMapped() {
        let keys = Counter.allCases.map { "\($0.metric.family.rawValue)|\($0.metric.reason ?? "")" }
        #expect(Set(keys).count == Counter.allCases.count)
        for family in MetricFamily.allCases {
            #expect(Counter.allCases.contains { $0.metric.family == family }, "\(family.rawValue) has no counter")
            #expect(family.rawValue.hasPrefix("netrelayd_") && family.rawValue.hasSuffix("_total"))
        }
    }

    @Test("A removed listener has no series")
    func removedListenerHasNoSeries() {
        var s = Self.snapshot
        s.listeners.removeAll { $0.name == "udp" }
        let text = PrometheusExposition.render(s)
        #expect(!text.contains("listener=\"udp\""))
        #expect(!text.contains("netrelayd_datagrams_received_total"))
        #expect(text.contains("listener=\"echo\""))
    }

    // MARK: Histogram

    @Test("The histogram puts each observation in the first bucket it fits and sums in seconds")
    func histogramBuckets() {
        let h = LatencyHistogram()
        h.observe(nanoseconds: -5)              // early: counts as 0
        h.observe(nanoseconds: 1_000_000)       // exactly 1 ms: le="0.001"
        h.observe(nanoseconds: 1_000_001)       // just above: le="0.005"
        h.observe(nanoseconds: 20_000_000_000)  // 20 s: +Inf
        let s = h.snapshot()
        #expect(s.bucketCounts[0] == 2)
        #expect(s.bucketCounts[1] == 1)
        #expect(s.bucketCounts[LatencyHistogram.bounds.count] == 1)
        #expect(s.count == 4)
        #expect(abs(s.sumSeconds - 20.002000001) < 1e-9)
    }

    // MARK: Status document and routes

    @Test("/status.json lists every listener with its state and the counters of its kind")
    func statusDocument() {
        let json = StatusDocument.render(Self.snapshot)
        #expect(json.contains(#"{"name": "echo", "kind": "tcp-echo", "address": "127.0.0.1:2000", "state": "up", "openConnections": 2, "counters": {"connectionsAccepted": 5, "refusedOverLimit": 1, "refusedPerSource": 0, "refusedDenied": 0, "closedIdle": 2, "closedNotReading": 0, "bytesIn": 100, "bytesOut": 130, "refusedFdLimit": 0, "closedMemoryBudget": 0, "connectionsAdopted": 0, "socketsAdopted": 0}}"#))
        #expect(json.contains(#"{"name": "gone\"x", "kind": "broadcast-rebroadcaster", "address": "127.0.0.1:2003", "state": "down", "reason": "Failed to bind"}"#))
        #expect(json.contains(#""ready": false,"#))
        #expect(json.contains(#""lastReload": {"successful": false, "timestamp": 1764620000.5, "summary": "reload 3 FAILED", "succeeded": 2, "failed": 1}"#))
        // It parses as JSON.
        #expect(throws: Never.self) { try JSONParser.parse(json) }
    }

    @Test("Routes: paths, query strings, readiness with its reason")
    func routes() {
        #expect(HTTPRoute(path: "/metrics?x=1") == .metrics)
        #expect(HTTPRoute(path: "/-/ready") == .ready)
        #expect(HTTPRoute(path: "/metrics/") == .notFound)
        let notReady = HTTPReply.answer(.ready, snapshot: Self.snapshot)
        #expect(notReady.status == 503)
        #expect(notReady.body == "Not ready: listener \"gone\\\"x\" is down: Failed to bind\n")
        var ready = Self.snapshot
        ready.notReadyReason = nil
        #expect(HTTPReply.answer(.ready, snapshot: ready).status == 200)
        #expect(HTTPReply.healthy(unhealthyReason: "event loop 0 has not answered its heartbeat for 4 s").status == 503)
        #expect(HTTPReply.methodNotAllowed.extraHeaders.first?.1 == "GET, HEAD")
    }

    static let expectedExposition = #"""
        # HELP netrelayd_build_info The running version; always 1.
        # TYPE netrelayd_build_info gauge
        netrelayd_build_info{version="1.2.3"} 1
        # HELP netrelayd_start_time_seconds When the daemon started, in seconds since the Unix epoch.
        # TYPE netrelayd_start_time_seconds gauge
        netrelayd_start_time_seconds 1764619200
        # HELP process_cpu_seconds_total User and system CPU time spent, in seconds.
        # TYPE process_cpu_seconds_total counter
        process_cpu_seconds_total 1.25
        # HELP process_open_fds Open file descriptors.
        # TYPE process_open_fds gauge
        process_open_fds 12
        # HELP process_max_fds The limit on open file descriptors (RLIMIT_NOFILE).
        # TYPE process_max_fds gauge
        process_max_fds 1024
        # HELP process_resident_memory_bytes Resident memory size, in bytes.
        # TYPE process_resident_memory_bytes gauge
        process_resident_memory_bytes 8388608
        # HELP netrelayd_listener_up 1 while the listener serves, 0 when it is configured but failed to start.
        # TYPE netrelayd_listener_up gauge
        netrelayd_listener_up{listener="echo",kind="tcp-echo"} 1
        netrelayd_listener_up{listener="udp",kind="udp-responder"} 1
        netrelayd_listener_up{listener="time",kind="multicast-announcer"} 1
        netrelayd_listener_up{listener="gone\"x",kind="broadcast-rebroadcaster"} 0
        # HELP netrelayd_connections_open Open TCP connections.
        # TYPE netrelayd_connections_open gauge
        netrelayd_connections_open{listener="echo",kind="tcp-echo"} 2
        # HELP netrelayd_connections_accepted_total TCP connections accepted (including those refused right after accept).
        # TYPE netrelayd_connections_accepted_total counter
        netrelayd_connections_accepted_total{listener="echo",kind="tcp-echo"} 5
        # HELP netrelayd_connections_refused_total TCP connections closed at accept, by reason.
        # TYPE netrelayd_connections_refused_total counter
        netrelayd_connections_refused_total{listener="echo",kind="tcp-echo",reason="over_limit"} 1
        netrelayd_connections_refused_total{listener="echo",kind="tcp-echo",reason="per_source"} 0
        netrelayd_connections_refused_total{listener="echo",kind="tcp-echo",reason="denied"} 0
        netrelayd_connections_refused_total{listener="echo",kind="tcp-echo",reason="fd_limit"} 0
        # HELP netrelayd_connections_closed_total TCP connections the daemon closed, by reason.
        # TYPE netrelayd_connections_closed_total counter
        netrelayd_connections_closed_total{listener="echo",kind="tcp-echo",reason="idle"} 2
        netrelayd_connections_closed_total{listener="echo",kind="tcp-echo",reason="not_reading"} 0
        netrelayd_connections_closed_total{listener="echo",kind="tcp-echo",reason="memory_budget"} 0
        # HELP netrelayd_received_bytes_total Payload bytes received.
        # TYPE netrelayd_received_bytes_total counter
        netrelayd_received_bytes_total{listener="echo",kind="tcp-echo"} 100
        # HELP netrelayd_sent_bytes_total Payload bytes sent.
        # TYPE netrelayd_sent_bytes_total counter
        netrelayd_sent_bytes_total{listener="echo",kind="tcp-echo"} 130
        # HELP netrelayd_datagrams_received_total Datagrams received.
        # TYPE netrelayd_datagrams_received_total counter
        netrelayd_datagrams_received_total{listener="udp",kind="udp-responder"} 7
        # HELP netrelayd_datagrams_sent_total Datagrams sent (replies, rebroadcasts).
        # TYPE netrelayd_datagrams_sent_total counter
        netrelayd_datagrams_sent_total{listener="udp",kind="udp-responder"} 6
        # HELP netrelayd_datagrams_dropped_total Datagrams dropped or not sent, by reason.
        # TYPE netrelayd_datagrams_dropped_total counter
        netrelayd_datagrams_dropped_total{listener="udp",kind="udp-responder",reason="rate_limit"} 1
        netrelayd_datagrams_dropped_total{listener="udp",kind="udp-responder",reason="oversize"} 0
        netrelayd_datagrams_dropped_total{listener="udp",kind="udp-responder",reason="bad_source"} 0
        netrelayd_datagrams_dropped_total{listener="udp",kind="udp-responder",reason="send_error"} 0
        netrelayd_datagrams_dropped_total{listener="udp",kind="udp-responder",reason="send_queue_full"} 0
        netrelayd_datagrams_dropped_total{listener="udp",kind="udp-responder",reason="kernel"} 0
        netrelayd_datagrams_dropped_total{listener="udp",kind="udp-responder",reason="empty"} 0
        netrelayd_datagrams_dropped_total{listener="udp",kind="udp-responder",reason="total_rate_limit"} 0
        netrelayd_datagrams_dropped_total{listener="time",kind="multicast-announcer",reason="send_error"} 0
        # HELP netrelayd_announcements_total Multicast announcements sent.
        # TYPE netrelayd_announcements_total counter
        netrelayd_announcements_total{listener="time",kind="multicast-announcer"} 4
        # HELP netrelayd_announcements_missed_total Announcement deadlines skipped because the timer fired too late.
        # TYPE netrelayd_announcements_missed_total counter
        netrelayd_announcements_missed_total{listener="time",kind="multicast-announcer"} 1
        # HELP netrelayd_adopted_connections_total TCP connections adopted from the previous instance at a restart (systemd's fd store).
        # TYPE netrelayd_adopted_connections_total counter
        netrelayd_adopted_connections_total{listener="echo",kind="tcp-echo"} 0
        # HELP netrelayd_adopted_sockets_total Listening sockets adopted from the previous instance at a restart (systemd's fd store).
        # TYPE netrelayd_adopted_sockets_total counter
        netrelayd_adopted_sockets_total{listener="echo",kind="tcp-echo"} 0
        netrelayd_adopted_sockets_total{listener="udp",kind="udp-responder"} 0
        # HELP netrelayd_announcement_lateness_seconds How late each announcement's timer fired, in seconds.
        # TYPE netrelayd_announcement_lateness_seconds histogram
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="0.001"} 3
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="0.005"} 3
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="0.01"} 3
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="0.025"} 3
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="0.05"} 3
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="0.1"} 4
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="0.25"} 4
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="0.5"} 4
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="1"} 4
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="2.5"} 4
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="5"} 4
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="10"} 4
        netrelayd_announcement_lateness_seconds_bucket{listener="time",kind="multicast-announcer",le="+Inf"} 4
        netrelayd_announcement_lateness_seconds_sum{listener="time",kind="multicast-announcer"} 0.0625
        netrelayd_announcement_lateness_seconds_count{listener="time",kind="multicast-announcer"} 4
        # HELP netrelayd_config_reloads_total Configuration reloads (SIGHUP), by result.
        # TYPE netrelayd_config_reloads_total counter
        netrelayd_config_reloads_total{result="success"} 2
        netrelayd_config_reloads_total{result="failure"} 1
        # HELP netrelayd_config_last_reload_successful 1 if the last reload (or the start) applied the configuration completely, else 0.
        # TYPE netrelayd_config_last_reload_successful gauge
        netrelayd_config_last_reload_successful 0
        # HELP netrelayd_config_last_reload_timestamp_seconds When the configuration was last loaded (start or reload), in seconds since the Unix epoch.
        # TYPE netrelayd_config_last_reload_timestamp_seconds gauge
        netrelayd_config_last_reload_timestamp_seconds 1764620000.5
        # HELP netrelayd_event_loop_lateness_seconds How late the event loops ran their heartbeat timer, in seconds.
        # TYPE netrelayd_event_loop_lateness_seconds histogram
        netrelayd_event_loop_lateness_seconds_bucket{le="0.001"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="0.005"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="0.01"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="0.025"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="0.05"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="0.1"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="0.25"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="0.5"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="1"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="2.5"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="5"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="10"} 10
        netrelayd_event_loop_lateness_seconds_bucket{le="+Inf"} 11
        netrelayd_event_loop_lateness_seconds_sum 12.5
        netrelayd_event_loop_lateness_seconds_count 11

        """#
}
