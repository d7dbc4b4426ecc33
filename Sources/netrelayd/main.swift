#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NetRelayCore
import NetRelaySystemd
import NetRelayConfig

let netrelaydVersion = "0.1.0"

func writeErr(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
}

func runDaemon(configPath: String, logLevel: String?) async -> Int32 {
    let override = logLevel.flatMap(Logger.Level.init(rawValue:))
    let control = LogLevelControl(override ?? .info)
    let toJournal = JournalLogHandler.stderrIsJournal()
    LoggingSystem.bootstrap { _ in
        toJournal ? JournalLogHandler(control: control) as any LogHandler : StderrLogHandler(control: control)
    }
    let notifier = SystemdNotifier()
    let options = DaemonOptions(
        configPath: configPath,
        logLevelOverride: override,
        logLevel: control,
        logger: Logger(label: "netrelayd"),
        notifier: notifier,
        watchdogInterval: SystemdNotifier.watchdogInterval(),
        sockets: InheritedSockets(SystemdSockets.inherited()),
        version: netrelaydVersion,
        fdStore: FileDescriptorStore(capacity: fdStoreCapacity(), notifier: notifier)
    )
    return await Daemon.run(options).rawValue
}

/// The fd store's size from the environment ($FDSTORE, or the unit's NETRELAYD_FDSTORE_MAX=).
func fdStoreCapacity() -> Int {
    var env: [String: String] = [:]
    for key in ["NOTIFY_SOCKET", "FDSTORE", "NETRELAYD_FDSTORE_MAX"] {
        if let v = getenv(key) { env[key] = String(cString: v) }
    }
    return FileDescriptorStore.capacity(environment: env)
}

func checkConfig(path: String) -> Int32 {
    switch ConfigurationLoader.load(path: path) {
    case .success(let configuration):
        // Compiler form: "config.json:12:5: warning: listeners[0].ttl: ...".
        var warnings = configuration.warnings(file: path)
        // The daemon raises its soft limit to the hard one at start; judge by that.
        if let warning = configuration.fileDescriptorWarning(file: path, limit: FileDescriptorLimit.effective()) {
            warnings.append(warning)
        }
        // Judged against the unit's store when run from it (ExecReload=) or given the variable.
        if let max = getenv("NETRELAYD_FDSTORE_MAX").flatMap({ Int(String(cString: $0)) }),
           let warning = FileDescriptorStore.warning(configuration, file: path, capacity: max) {
            warnings.append(warning)
        }
        for line in ConfigurationIssue.lines(warnings) { writeErr(line) }
        print("configuration OK")
        return 0
    case .failure(let error):
        for line in error.lines { writeErr(line) }
        let n = error.total
        writeErr(TextEscaping.escape("\(path): \(ConfigurationIssue.grouped(n)) error\(n == 1 ? "" : "s")", for: .line))
        return 1
    }
}

let status: Int32
do {
    switch try CommandLineOptions.parse(Array(CommandLine.arguments.dropFirst())) {
    case .run(let configPath, let logLevel):
        status = await runDaemon(configPath: configPath, logLevel: logLevel)
    case .checkConfig(let path):
        status = checkConfig(path: path)
    case .version:
        print(CommandLineOptions.versionText)
        status = 0
    case .help(let topic):
        print(topic == "check-config" ? CommandLineOptions.checkConfigUsage : CommandLineOptions.usage)
        status = 0
    }
} catch {
    writeErr("netrelayd: \(error.message)")
    writeErr("Run 'netrelayd --help' for usage.")
    status = 64
}
exit(status)
