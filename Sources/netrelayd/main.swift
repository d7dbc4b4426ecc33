import ArgumentParser
import Logging
import NetRelayCore
import NetRelaySystemd

#if canImport(Glibc)
import Glibc
#endif

let netrelaydVersion = "0.1.0"

@main
struct Netrelayd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netrelayd",
        abstract: "A systemd-native TCP echo, UDP responder, broadcast rebroadcaster and multicast announcer.",
        discussion: """
            Without a subcommand, netrelayd runs in the foreground with the listeners of its JSON \
            configuration (netrelayd --config /etc/netrelayd/config.json), tells systemd when it is ready \
            (Type=notify), reloads on SIGHUP, logs per-listener counters on SIGUSR1 and shuts down \
            gracefully on SIGTERM or SIGINT.

            Exit status: 0 clean stop; 64 bad command line; 69 a listener could not be started \
            (address in use, permission denied, unknown interface); 70 internal error; 78 configuration error.

            Configuration reference: docs/configuration.md
            """,
        version: netrelaydVersion,
        subcommands: [Run.self, CheckConfig.self],
        defaultSubcommand: Run.self
    )
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon in the foreground (the default).",
        discussion: "Example: netrelayd --config config/netrelayd.json --log-level debug"
    )

    @Option(name: .shortAndLong, help: "The JSON configuration file.")
    var config: String = "/etc/netrelayd/config.json"

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical; overrides the config's \"logLevel\".")
    var logLevel: String?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical (got \"\(logLevel)\")")
        }
    }

    func run() async throws {
        let override = logLevel.flatMap(Logger.Level.init(rawValue:))
        let control = LogLevelControl(override ?? .info)
        let toJournal = JournalLogHandler.stderrIsJournal()
        LoggingSystem.bootstrap { _ in
            toJournal ? JournalLogHandler(control: control) as any LogHandler : StderrLogHandler(control: control)
        }
        let logger = Logger(label: "netrelayd")
        let options = DaemonOptions(
            configPath: config,
            logLevelOverride: override,
            logLevel: control,
            logger: logger,
            notifier: SystemdNotifier(),
            watchdogInterval: SystemdNotifier.watchdogInterval(),
            sockets: SystemdSockets(),
            version: netrelaydVersion
        )
        let code = await Daemon.run(options)
        if code != .ok { throw ExitCode(code.rawValue) }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file and exit: 0 and \"configuration OK\", or 1 and every error.",
        discussion: """
            Errors read FILE:LINE:COLUMN: JSON.PATH: what is wrong and what to write instead, all of them at once. \
            Warnings (valid, but probably not what you meant) go to stderr and do not fail the check.

            Example: netrelayd check-config /etc/netrelayd/config.json
            """
    )

    @Argument(help: "The JSON configuration file.")
    var path: String

    func run() throws {
        switch ConfigurationLoader.load(path: path) {
        case .success(let configuration):
            for warning in configuration.warnings(file: path) {
                printError("warning: \(warning)")
            }
            print("configuration OK")
        case .failure(let error):
            for issue in error.issues { printError("\(issue)") }
            let n = error.issues.count
            printError("\(path): \(n) error\(n == 1 ? "" : "s")")
            throw ExitCode(1)
        }
    }
}

func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
}
