import ArgumentParser

/// Checks the numeric options shared by the subcommands, with messages a person can act on.
enum OptionCheck {
    /// Larger values would overflow NIO's nanosecond clock arithmetic; nobody waits 11 days for a probe.
    static let maxSeconds = 1_000_000.0

    static func seconds(_ value: Double, _ option: String, allowZero: Bool) throws {
        let ok = value.isFinite && (allowZero ? value >= 0 : value > 0) && value <= maxSeconds
        guard ok else {
            let what = allowZero ? "zero or a positive number of seconds" : "a positive number of seconds"
            throw ValidationError("\(option) must be \(what) up to \(Int(maxSeconds)), e.g. \(option) 5 (got \(Seconds.text(value))).")
        }
    }

    static func count(_ value: Int, _ option: String = "--count") throws {
        guard (1...1_000_000).contains(value) else {
            throw ValidationError("\(option) must be a whole number from 1 to 1000000 (got \(value)).")
        }
    }
}
