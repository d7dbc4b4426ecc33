import Atomics
import Logging
import NetRelayConfig

/// The daemon's log level, shared by every logger so that a reload can change it at run time
/// (swift-log loggers are values; each copy would otherwise keep its own level).
public final class LogLevelControl: Sendable {
    private static let levels = Logger.Level.allCases
    private let raw: ManagedAtomic<Int>

    public init(_ level: Logger.Level) {
        raw = ManagedAtomic(LogLevelControl.levels.firstIndex(of: level) ?? 2)
    }

    public var level: Logger.Level {
        get { LogLevelControl.levels[raw.load(ordering: .relaxed)] }
        set { raw.store(LogLevelControl.levels.firstIndex(of: newValue) ?? 2, ordering: .relaxed) }
    }
}

/// A log handler whose level is the daemon's (`LogLevelControl`) and whose metadata is its own:
/// what the stderr and the journald handlers share.
public protocol ControlledLogHandler: LogHandler {
    var control: LogLevelControl { get }
}

extension ControlledLogHandler {
    public var logLevel: Logger.Level {
        get { control.level }
        nonmutating set { control.level = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}

extension LogLevelSetting {
    public var loggerLevel: Logger.Level {
        switch self {
        case .trace: return .trace
        case .debug: return .debug
        case .info: return .info
        case .notice: return .notice
        case .warning: return .warning
        case .error: return .error
        case .critical: return .critical
        }
    }
}
