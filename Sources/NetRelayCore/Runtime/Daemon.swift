import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import NetRelayConfig

/// What the executable hands the daemon: where the config is and how to reach systemd.
public struct DaemonOptions: Sendable {
    public var configPath: String
    /// `--log-level`; when set, the config's `logLevel` is ignored.
    public var logLevelOverride: Logger.Level?
    public var logLevel: LogLevelControl
    public var logger: Logger
    public var notifier: any ServiceNotifier
    /// WATCHDOG_USEC, when the service manager wants pings.
    public var watchdogInterval: TimeAmount?
    public var sockets: InheritedSockets
    public var version: String
    /// systemd's file descriptor store; disabled when the unit has none (or outside systemd).
    public var fdStore: FileDescriptorStore

    public init(configPath: String, logLevelOverride: Logger.Level?, logLevel: LogLevelControl, logger: Logger,
                notifier: any ServiceNotifier, watchdogInterval: TimeAmount?, sockets: InheritedSockets, version: String,
                fdStore: FileDescriptorStore = .disabled) {
        self.fdStore = fdStore
        self.configPath = configPath
        self.logLevelOverride = logLevelOverride
        self.logLevel = logLevel
        self.logger = logger
        self.notifier = notifier
        self.watchdogInterval = watchdogInterval
        self.sockets = sockets
        self.version = version
    }
}

/// The daemon's life: load the configuration, bind every listener, tell systemd READY=1,
/// reload on SIGHUP, report on SIGUSR1, and shut down gracefully on SIGTERM/SIGINT.
public enum Daemon {
    public static func run(_ options: DaemonOptions) async -> DaemonExitCode {
        let logger = options.logger
        guard let configuration = loadConfiguration(options) else { return .config }
        prepareProcess(for: configuration, options)
        logger.info(
            "Starting netrelayd \(options.version): \(configuration.listeners.count) listener(s) from \(options.configPath), \(configuration.eventLoopThreads) event loop thread(s)",
            metadata: ["event": "starting"]
        )

        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoopThreads)
        let context = ListenerContext(group: group, logger: logger, sockets: options.sockets, fdStore: options.fdStore)
        HeapTrimmer.start(on: group.next(), logger: logger)
        let supervisor = Supervisor(configuration: configuration, context: context)
        let service = DaemonService(supervisor: supervisor, options: options, group: group, startTime: wallClockSeconds())
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [.init(service: service)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))

        var exitCode = DaemonExitCode.ok
        do {
            try await serviceGroup.run()
        } catch {
            let (message, code) = describeStartFailure(error)
            logger.error("\(message)", metadata: ["event": "start-failed"])
            var notice: [ServiceMessage] = [.status("Failed to start: \(message)")]
            if let code { notice.append(.errno(code)) }
            options.notifier.notify(notice)
            exitCode = (error is ListenerStartError || error is UnclaimedSocketsError || error is HTTPEndpointStartError) ? .unavailable : .software
        }
        try? await group.shutdownGracefully()
        if exitCode == .ok { logger.info("Stopped", metadata: ["event": "stopped"]) }
        return exitCode
    }

    /// The configuration, or nil after logging its errors and telling systemd why.
    static func loadConfiguration(_ options: DaemonOptions) -> Configuration? {
        switch ConfigurationLoader.load(path: options.configPath) {
        case .failure(let error):
            logConfigurationError(error, logger: options.logger)
            options.notifier.notify([.status("Failed to start: configuration error: \(error.summary)"), .errno(22)])
            return nil
        case .success(let configuration):
            if options.logLevelOverride == nil { options.logLevel.level = configuration.logLevel.loggerLevel }
            return configuration
        }
    }

    /// Logs the configuration's warnings and raises RLIMIT_NOFILE, warning when it or the fd
    /// store is too small for the configuration.
    static func prepareProcess(for configuration: Configuration, _ options: DaemonOptions) {
        let logger = options.logger
        // Every connection is a file descriptor; take all the service manager allows.
        let fds = FileDescriptorLimit.raiseSoftToHard()
        if fds.after.soft != fds.before.soft {
            logger.info("Raised RLIMIT_NOFILE from \(fds.before.soft) to \(fds.after.soft) (the hard limit)", metadata: ["event": "rlimit"])
        } else {
            logger.debug("RLIMIT_NOFILE is \(fds.after.soft) (hard limit \(fds.after.hard == Int.max ? "unlimited" : "\(fds.after.hard)"))", metadata: ["event": "rlimit"])
        }
        logWarnings(configuration, options, fileDescriptorLimit: fds.after.soft)
    }

    /// The configuration's warnings (at start and on reload), in compiler form:
    /// `config.json:12:5: warning: listeners[0].ttl: ...`.
    static func logWarnings(_ configuration: Configuration, _ options: DaemonOptions, fileDescriptorLimit: Int) {
        var warnings = configuration.warnings(file: options.configPath)
        if let w = configuration.fileDescriptorWarning(file: options.configPath, limit: fileDescriptorLimit) { warnings.append(w) }
        if let w = FileDescriptorStore.warning(configuration, file: options.configPath, capacity: options.fdStore.capacity) { warnings.append(w) }
        for line in ConfigurationIssue.lines(warnings) {
            options.logger.warning("\(line)", metadata: ["event": "config-warning"])
        }
    }

    static func describeStartFailure(_ error: Error) -> (String, Int32?) {
        if let e = error as? ListenerStartError { return (e.description, e.errno) }
        if let e = error as? UnclaimedSocketsError { return (e.description, 22) }
        if let e = error as? HTTPEndpointStartError { return (e.description, e.errno) }
        return ("\(error)", nil)
    }

    static func logConfigurationError(_ error: ConfigurationError, logger: Logger) {
        for issue in error.issues.prefix(ConfigurationIssue.shownLimit) {
            logger.error("\(issue)", metadata: ["event": "config-error", "config_path": .string(issue.path)])
        }
        let n = error.total
        if let more = error.lines.last, n > ConfigurationIssue.shownLimit {
            logger.error("\(more)", metadata: ["event": "config-error"])
        }
        logger.error("Configuration has \(ConfigurationIssue.grouped(n)) error\(n == 1 ? "" : "s"); fix them and run `netrelayd check-config \(error.issues.first?.file ?? "FILE")`", metadata: ["event": "config-error"])
    }
}

/// The swift-service-lifecycle service that runs the supervisor until graceful shutdown.
struct DaemonService: Service, CustomStringConvertible {
    let supervisor: Supervisor
    let options: DaemonOptions
    let group: MultiThreadedEventLoopGroup
    /// Seconds since the epoch, for `netrelayd_start_time_seconds`.
    let startTime: Double

    var description: String { "netrelayd" }

    /// What the HTTP endpoint reads: the supervisor's listeners and reloads, the heartbeat, /proc.
    private func observabilitySource(heartbeat: LoopHeartbeat) -> ObservabilitySource {
        let supervisor = self.supervisor, version = options.version, startTime = self.startTime
        return ObservabilitySource(
            snapshot: {
                let unhealthy = heartbeat.unhealthyReason()
                return DaemonSnapshot(
                    version: version, startTime: startTime, process: ProcessStats.current(),
                    listeners: await supervisor.listenerSnapshots(), reloads: await supervisor.reloadFacts,
                    loopLateness: heartbeat.lateness(), notReadyReason: await supervisor.notReadyReason,
                    unhealthyReason: unhealthy, statusLine: await supervisor.statusLine())
            },
            unhealthyReason: { heartbeat.unhealthyReason() })
    }

    func run() async throws {
        let logger = options.logger
        let notifier = options.notifier
        // Trap the signals before binding, so a SIGHUP during start-up is not fatal.
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigusr1)
        // The HTTP endpoint starts first, so /-/ready says "starting" while the listeners bind.
        let heartbeat = LoopHeartbeat(group: group)
        heartbeat.start()
        defer { heartbeat.stop() }
        let http = HTTPEndpointControl(group: group, source: observabilitySource(heartbeat: heartbeat), logger: logger)
        try await http.apply(await supervisor.running.http)
        do {
            try await supervisor.start()
        } catch {
            await http.stop()
            throw error
        }

        let watchdog = options.watchdogInterval.map { Watchdog(group: group, interval: $0, notifier: notifier) }
        watchdog?.start()
        let status = await supervisor.statusLine()
        notifier.notify([.ready, .status(status)])
        logger.info("Ready: \(status)", metadata: ["event": "ready"])
        // Idle RSS: let go of the code and tables only start-up needed (StartupPages).
        StartupPages.releaseNowAndLater(on: group.next(), logger: logger)

        await serveUntilShutdown(signals: signals, http: http, status: status)
        await stopListeners()
        await http.stop()
        watchdog?.stop()
    }

    /// Answers SIGHUP (reload) and SIGUSR1 (statistics) and keeps STATUS= current until a
    /// graceful shutdown is requested.
    private func serveUntilShutdown(signals: UnixSignalsSequence, http: HTTPEndpointControl, status: String) async {
        // Reloads run in a task of their own, so that SIGUSR1 is answered (and SIGTERM acted on)
        // while a reload reads and decodes the file. SIGHUPs that arrive during a reload are
        // coalesced into one more reload, which reads the file as it is by then.
        let (reloadRequests, requestReload) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                for await signal in signals {
                    if signal == .sighup {
                        requestReload.yield()
                    } else {
                        await supervisor.logStatistics()
                    }
                }
            }
            tasks.addTask {
                for await _ in reloadRequests {
                    await reload(http)
                }
            }
            tasks.addTask {
                await keepStatusCurrent(last: status)
            }
            try? await gracefulShutdown()
            tasks.cancelAll()
        }
    }

    /// SIGTERM: hands the sockets to the fd store (a restart) or drains and closes them.
    private func stopListeners() async {
        let logger = options.logger
        let notifier = options.notifier
        let open = await supervisor.openConnections
        let timeout = await supervisor.running.shutdownTimeout
        if options.fdStore.enabled {
            // SIGTERM is a stop or a restart; systemd keeps the store only for a restart.
            let text = "Shutting down: handing \(open) connection(s) and the listening sockets to systemd's file descriptor store (up to \(formatSeconds(timeout)) s)"
            notifier.notify([.stopping, .status(text)])
            logger.info("\(text)", metadata: ["event": "stopping"])
            let started = NIODeadline.now()
            let stored = await supervisor.shutdownForHandOver()
            let ms = (NIODeadline.now() - started).nanoseconds / 1_000_000
            logger.info("Stored \(stored) of \(open) connection(s) in the file descriptor store in \(ms) ms (\(options.fdStore.count) entries); the next instance carries on with them, and a stop closes them", metadata: ["event": "stored"])
        } else {
            notifier.notify([.stopping, .status("Shutting down: closing listeners, draining \(open) connection(s) (up to \(formatSeconds(timeout)) s)")])
            logger.info("Shutting down: closing listeners, draining \(open) connection(s) (up to \(formatSeconds(timeout)) s)", metadata: ["event": "stopping"])
            await supervisor.shutdown()
        }
    }

    private func reload(_ http: HTTPEndpointControl) async {
        let logger = options.logger
        options.notifier.notify([.reloadingNow()])
        logger.info("Reloading configuration from \(options.configPath)", metadata: ["event": "reload"])
        // Reading and decoding block (a large file takes a while, a slow disk longer): off the
        // cooperative pool, and abandoned when shutdown cancels this task.
        let path = options.configPath
        guard let loaded = await BlockingWork.run({ ConfigurationLoader.load(path: path) }) else {
            logger.info("Reload abandoned: shutting down", metadata: ["event": "reload"])
            return
        }
        switch loaded {
        case .failure(let error):
            Daemon.logConfigurationError(error, logger: logger)
            let n = await supervisor.reloadRejected(error)
            logger.error("Reload \(n) failed: the configuration has errors; still serving the previous configuration", metadata: ["event": "reload-failed"])
        case .success(let configuration):
            if options.logLevelOverride == nil { options.logLevel.level = configuration.logLevel.loggerLevel }
            Daemon.logWarnings(configuration, options, fileDescriptorLimit: FileDescriptorLimit.current().soft)
            await http.release(unless: configuration.http)
            var report = await supervisor.reload(to: configuration)
            do {
                try await http.apply(configuration.http)
            } catch {
                logger.error("\(error); the HTTP endpoint is off until the next reload", metadata: ["event": "reload-error"])
                report.failures.append("\(error)")
                await supervisor.reloadAlsoFailed("\(error)")
            }
            for note in report.notes { logger.warning("\(note)", metadata: ["event": "reload"]) }
            if report.ok {
                logger.info("Reload \(report.number) complete: \(report.summary)", metadata: ["event": "reloaded"])
            } else {
                logger.error("Reload \(report.number) partly failed (\(report.summary)): \(report.failures.joined(separator: "; "))", metadata: ["event": "reload-failed"])
            }
        }
        options.notifier.notify([.ready, .status(await supervisor.statusLine())])
        // Reading and decoding the file mapped the decoder's code again: let go of it as at start.
        StartupPages.releaseNowAndLater(on: group.next(), logger: options.logger)
    }

    /// Re-sends STATUS= when the summary changes, at most once per `statusInterval`.
    private func keepStatusCurrent(last: String) async {
        var last = last
        while !Task.isCancelled {
            let interval = await supervisor.running.statusInterval
            do {
                try await Task.sleep(for: .nanoseconds(Int64(interval * 1e9)))
            } catch {
                return
            }
            let now = await supervisor.statusLine()
            if now != last {
                options.notifier.notify([.status(now)])
                last = now
            }
        }
    }
}
