import NetRelayConfig

/// The daemon's exit statuses (sysexits.h values, so they read the same as other daemons').
/// Documented in README.md; the unit file's RestartPreventExitStatus= names `config`.
public enum DaemonExitCode: Int32, Sendable {
    /// Clean shutdown after SIGTERM or SIGINT.
    case ok = 0
    /// Bad command line (EX_USAGE).
    case usage = 64
    /// A listener could not be started: address in use, permission denied, unknown interface (EX_UNAVAILABLE).
    case unavailable = 69
    /// An internal error (EX_SOFTWARE).
    case software = 70
    /// The configuration file is missing, unreadable or invalid (EX_CONFIG).
    case config = 78
}
