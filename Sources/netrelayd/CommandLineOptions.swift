import NetRelayCore
import NetRelayConfig

/// The daemon's command line, parsed by hand: netrelayd needs four flags, and dropping
/// swift-argument-parser keeps Foundation (which it links) out of the daemon, about 2 MiB of
/// its idle RSS. netrelayctl, a short-lived tool, uses swift-argument-parser.
enum Command: Equatable {
    case run(configPath: String, logLevel: String?)
    case checkConfig(path: String)
    case version
    case help(topic: String?)
}

struct UsageError: Error, Equatable {
    var message: String
}

enum CommandLineOptions {
    static let defaultConfigPath = "/etc/netrelayd/config.json"
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    static func parse(_ arguments: [String]) throws(UsageError) -> Command {
        var args = arguments[...]
        var subcommand = "run"
        if let first = args.first, !first.hasPrefix("-") {
            subcommand = first
            args = args.dropFirst()
        }
        switch subcommand {
        case "run":
            return try parseRun(args)
        case "check-config":
            if args.contains("--help") || args.contains("-h") { return .help(topic: "check-config") }
            let paths = args.filter { !$0.hasPrefix("-") || $0 == "-" }
            if let flag = args.first(where: { $0.hasPrefix("-") && $0 != "-" }) {
                throw UsageError(message: "check-config takes only a file path, not '\(flag)'")
            }
            guard paths.count == 1 else {
                throw UsageError(message: paths.isEmpty ? "check-config needs the path of the configuration file, e.g. netrelayd check-config /etc/netrelayd/config.json" : "check-config checks one file at a time; got \(paths.count)")
            }
            return .checkConfig(path: paths[0])
        case "help":
            return .help(topic: args.first)
        default:
            var message = "unknown subcommand '\(subcommand)'"
            if subcommand.hasSuffix(".json") {
                message += "; pass the configuration with --config \(subcommand), or check it with check-config \(subcommand)"
            } else if let near = closest(subcommand, among: ["run", "check-config", "help"]) {
                message += "; did you mean '\(near)'?"
            }
            throw UsageError(message: message)
        }
    }

    private static func parseRun(_ arguments: ArraySlice<String>) throws(UsageError) -> Command {
        var config = defaultConfigPath
        var logLevel: String?
        var args = arguments
        while let arg = args.popFirst() {
            var name = arg
            var inlineValue: String?
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                inlineValue = String(arg[arg.index(after: eq)...])
            }
            func value() throws(UsageError) -> String {
                if let inlineValue { return inlineValue }
                guard let v = args.popFirst(), !v.hasPrefix("--") else {
                    throw UsageError(message: "\(name) needs a value")
                }
                return v
            }
            switch name {
            case "--config", "-c":
                config = try value()
            case "--log-level":
                let level = try value()
                guard logLevels.contains(level) else {
                    throw UsageError(message: "--log-level must be one of \(logLevels.joined(separator: ", ")) (got '\(level)')")
                }
                logLevel = level
            case "--version", "-V":
                return .version
            case "--help", "-h":
                return .help(topic: nil)
            default:
                var message = arg.hasPrefix("-") ? "unknown option '\(name)'" : "unexpected argument '\(arg)'"
                if let near = closest(name, among: ["--config", "--log-level", "--version", "--help"]) {
                    message += "; did you mean '\(near)'?"
                } else if !arg.hasPrefix("-") && arg.hasSuffix(".json") {
                    message += "; pass the configuration with --config \(arg)"
                }
                throw UsageError(message: message)
            }
        }
        return .run(configPath: config, logLevel: logLevel)
    }

    private static func closest(_ word: String, among candidates: [String]) -> String? {
        let distance = EditDistance.between
        return candidates.min { distance(word, $0) < distance(word, $1) }.flatMap { distance(word, $0) <= 3 ? $0 : nil }
    }

    /// `--version`: the version on the first line (scripts read it), then the license, as GNU tools print it.
    static let versionText = """
        netrelayd \(netrelaydVersion)
        Copyright 2026 netrelayd maintainers
        License: Apache-2.0 (the Apache License, Version 2.0: http://www.apache.org/licenses/LICENSE-2.0).
        This is free software; it comes with no warranty, to the extent permitted by law.
        """

    static let usage = """
        netrelayd \(netrelaydVersion): a systemd-native TCP echo, UDP responder, broadcast rebroadcaster and multicast announcer.

        USAGE:
          netrelayd [run] [--config PATH] [--log-level LEVEL]
          netrelayd check-config PATH
          netrelayd --version | --help

        Without a subcommand, netrelayd runs in the foreground with the listeners of its JSON
        configuration, tells systemd when it is ready (Type=notify), reloads on SIGHUP, logs
        per-listener counters on SIGUSR1 and shuts down gracefully on SIGTERM or SIGINT.

        OPTIONS:
          -c, --config PATH      the JSON configuration (default: /etc/netrelayd/config.json)
          --log-level LEVEL      trace, debug, info, notice, warning, error or critical;
                                 overrides the config's "logLevel"
          -V, --version          print the version and the license (Apache-2.0)
          -h, --help             print this help

        SUBCOMMANDS:
          check-config PATH      validate a configuration: prints "configuration OK" and exits 0,
                                 or prints the errors (FILE:LINE:COLUMN: JSON.PATH: message; the first 50,
                                 then how many more) and exits 1

        EXIT STATUS:
          0 clean stop; 64 bad command line; 69 a listener could not be started (address in use,
          permission denied, unknown interface); 70 internal error; 78 configuration error.

        Configuration reference: docs/configuration.md. Example:
          netrelayd --config config/netrelayd.json --log-level debug
        """

    static let checkConfigUsage = """
        USAGE: netrelayd check-config PATH

        Validates a configuration file without running it. Prints "configuration OK" and exits 0,
        or prints the errors, one per line as FILE:LINE:COLUMN: JSON.PATH: what is wrong and what
        to write instead (the first 50, then "… and N more errors"), and exits 1. Warnings (valid,
        but probably not what you meant) go to stderr and do not fail the check.

        Example: netrelayd check-config /etc/netrelayd/config.json
        """
}
