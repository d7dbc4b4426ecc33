import NetRelayConfig

/// Renders a snapshot in the Prometheus text exposition format (version 0.0.4), straight from
/// the counters: no client library, no registry, nothing updated per packet. See
/// docs/observability.md for every family.
public enum PrometheusExposition {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ s: DaemonSnapshot) -> String {
        var w = Writer()
        renderProcess(s, &w)
        let up = s.listeners.filter(\.isUp)
        renderListeners(s.listeners, up: up, &w)
        renderExtras(up, &w)
        renderDaemon(s, &w)
        return w.text
    }

    static func labels(_ l: ListenerSnapshot) -> [(String, String)] { [("listener", l.name), ("kind", l.kind.name)] }

    /// Build info, start time and the process_* families.
    static func renderProcess(_ s: DaemonSnapshot, _ w: inout Writer) {
        w.family("netrelayd_build_info", .gauge, "The running version; always 1.") { w in
            w.sample("netrelayd_build_info", [("version", s.version)], "1")
        }
        w.family("netrelayd_start_time_seconds", .gauge, "When the daemon started, in seconds since the Unix epoch.") { w in
            w.sample("netrelayd_start_time_seconds", [], format(s.startTime))
        }
        if let p = s.process {
            w.family("process_cpu_seconds_total", .counter, "User and system CPU time spent, in seconds.") { $0.sample("process_cpu_seconds_total", [], format(p.cpuSeconds)) }
            w.family("process_open_fds", .gauge, "Open file descriptors.") { $0.sample("process_open_fds", [], "\(p.openFDs)") }
            w.family("process_max_fds", .gauge, "The limit on open file descriptors (RLIMIT_NOFILE).") { $0.sample("process_max_fds", [], "\(p.maxFDs)") }
            w.family("process_resident_memory_bytes", .gauge, "Resident memory size, in bytes.") { $0.sample("process_resident_memory_bytes", [], "\(p.residentMemoryBytes)") }
        }
    }

    /// Up, open connections and every counter family, per listener.
    static func renderListeners(_ all: [ListenerSnapshot], up: [ListenerSnapshot], _ w: inout Writer) {
        w.family("netrelayd_listener_up", .gauge, "1 while the listener serves, 0 when it is configured but failed to start.") { w in
            for l in all { w.sample("netrelayd_listener_up", labels(l), l.isUp ? "1" : "0") }
        }
        let tcp = up.filter { $0.kind.holdsConnections }
        if !tcp.isEmpty {
            w.family("netrelayd_connections_open", .gauge, "Open TCP connections.") { w in
                for l in tcp { w.sample("netrelayd_connections_open", labels(l), "\(l.openConnections)") }
            }
        }
        for family in MetricFamily.allCases {
            let counters = Counter.allCases.filter { $0.metric.family == family }
            let listeners = up.filter { l in counters.contains { $0.applies(to: l.kind) } || !l.samples(of: family.rawValue).isEmpty }
            guard !listeners.isEmpty else { continue }
            w.family(family.rawValue, .counter, family.help) { w in
                for l in listeners {
                    for c in counters where c.applies(to: l.kind) {
                        var ls = labels(l)
                        if let reason = c.metric.reason { ls.append(("reason", reason)) }
                        w.sample(family.rawValue, ls, "\(l.value(c))")
                    }
                    // A kind's own reasons in a shared family (its extras).
                    for sample in l.samples(of: family.rawValue) { w.sample(sample, labels(l)) }
                }
            }
        }
    }

    /// The families kinds export from their extras, each once, in the order they first appear.
    static func renderExtras(_ up: [ListenerSnapshot], _ w: inout Writer) {
        let shared = Set(MetricFamily.allCases.map(\.rawValue))
        var families: [ExtraFamily] = []
        for l in up {
            for f in l.kind.families where !shared.contains(f.name) && !families.contains(where: { $0.name == f.name }) { families.append(f) }
        }
        for family in families {
            let listeners = up.filter { !$0.samples(of: family.name).isEmpty }
            guard !listeners.isEmpty else { continue }
            w.family(family.name, MetricType(family.kind), family.help) { w in
                for l in listeners {
                    for sample in l.samples(of: family.name) { w.sample(sample, labels(l)) }
                }
            }
        }
    }

    /// Reloads and the event loops' lateness.
    static func renderDaemon(_ s: DaemonSnapshot, _ w: inout Writer) {
        let r = s.reloads
        w.family("netrelayd_config_reloads_total", .counter, "Configuration reloads (SIGHUP), by result.") { w in
            w.sample("netrelayd_config_reloads_total", [("result", "success")], "\(r.succeeded)")
            w.sample("netrelayd_config_reloads_total", [("result", "failure")], "\(r.failed)")
        }
        w.family("netrelayd_config_last_reload_successful", .gauge, "1 if the last reload (or the start) applied the configuration completely, else 0.") { w in
            w.sample("netrelayd_config_last_reload_successful", [], r.lastSuccessful ? "1" : "0")
        }
        w.family("netrelayd_config_last_reload_timestamp_seconds", .gauge, "When the configuration was last loaded (start or reload), in seconds since the Unix epoch.") { w in
            w.sample("netrelayd_config_last_reload_timestamp_seconds", [], format(r.lastTimestamp))
        }
        w.family("netrelayd_event_loop_lateness_seconds", .histogram, "How late the event loops ran their heartbeat timer, in seconds.") { w in
            w.histogram("netrelayd_event_loop_lateness_seconds", [], s.loopLateness)
        }
    }

    /// A sample value: integers without a fraction, others as Swift prints them (which Prometheus parses).
    static func format(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return "\(Int64(d))" }
        return "\(d)"
    }

    enum MetricType: String {
        case counter, gauge, histogram

        init(_ kind: ExtraFamily.Kind) {
            switch kind {
            case .counter: self = .counter
            case .gauge: self = .gauge
            case .histogram: self = .histogram
            }
        }
    }

    struct Writer {
        var text = ""

        mutating func family(_ name: String, _ type: MetricType, _ help: String, _ samples: (inout Writer) -> Void) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type.rawValue)\n"
            samples(&self)
        }

        mutating func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
            text += name
            if !labels.isEmpty {
                text += "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
            }
            text += " \(value)\n"
        }

        /// An extra's sample, after the listener's own labels.
        mutating func sample(_ sample: ExtraSample, _ listener: [(String, String)]) {
            let labels = listener + Array(zip(sample.family.labels, sample.labels))
            switch sample.value {
            case .count(let n): self.sample(sample.family.name, labels, "\(n)")
            case .number(let d): self.sample(sample.family.name, labels, PrometheusExposition.format(d))
            case .histogram(let h): histogram(sample.family.name, labels, h)
            }
        }

        mutating func histogram(_ name: String, _ labels: [(String, String)], _ h: HistogramSnapshot) {
            var cumulative = 0
            for (i, bound) in LatencyHistogram.bounds.enumerated() {
                cumulative += h.bucketCounts[i]
                sample(name + "_bucket", labels + [("le", PrometheusExposition.format(bound))], "\(cumulative)")
            }
            cumulative += h.bucketCounts[LatencyHistogram.bounds.count]
            sample(name + "_bucket", labels + [("le", "+Inf")], "\(cumulative)")
            sample(name + "_sum", labels, PrometheusExposition.format(h.sumSeconds))
            sample(name + "_count", labels, "\(cumulative)")
        }

        /// A label value: escaped as every text that leaves the daemon (`TextEscaping`: a target
        /// label is an interface name), then in the exposition format's own way (`\\`, `\"`).
        private func escape(_ v: String) -> String {
            var out = ""
            for ch in TextEscaping.escape(v, for: .line).unicodeScalars {
                switch ch {
                case "\\": out += "\\\\"
                case "\"": out += "\\\""
                default: out.unicodeScalars.append(ch)
                }
            }
            return out
        }
    }
}

extension ListenerSnapshot {
    /// Its extras' samples of one family, within `ListenerExtras.sampleLimit`, and only of
    /// families its kind declares.
    func samples(of family: String) -> [ExtraSample] {
        guard kind.families.contains(where: { $0.name == family }) else { return [] }
        return extras.samples.prefix(ListenerExtras.sampleLimit).filter { $0.family.name == family }
    }
}
