import Foundation
import Testing

/// What one run of a built binary (netrelayctl, netrelayd) printed and how it ended.
struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// True when it had to be killed at the deadline.
    var killed: Bool

    /// stdout as JSON objects, one per line (`--json`).
    var events: [[String: Any]] {
        stdout.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    func events(_ name: String) -> [[String: Any]] {
        events.filter { $0["event"] as? String == name }
    }

    /// stderr without its final newline: the one-line reason.
    var reason: String { stderr.trimmingCharacters(in: .newlines) }
}

/// A child process whose stdout and stderr go to files, so that nothing blocks on a full pipe
/// and the test can read what was printed so far while it runs.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let outURL: URL
    private let errURL: URL

    init(_ executable: URL, _ arguments: [String]) throws {
        let dir = FileManager.default.temporaryDirectory
        let id = UUID().uuidString
        outURL = dir.appendingPathComponent("ctltest-\(id).out")
        errURL = dir.appendingPathComponent("ctltest-\(id).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.executableURL = executable
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
    }

    var stdoutSoFar: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }
    var stderrSoFar: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    /// Waits at most `seconds`; past that the child is killed (SIGKILL, by its own pid).
    func wait(seconds: Double) async -> RunResult {
        let deadline = Date().addingTimeInterval(seconds)
        var killed = false
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                killed = true
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        process.waitUntilExit()
        let result = RunResult(status: process.terminationStatus, stdout: stdoutSoFar, stderr: stderrSoFar, killed: killed)
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
        return result
    }

    /// Polls stdout until `predicate` holds or `seconds` pass.
    func waitForOutput(seconds: Double, _ predicate: (String) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if predicate(stdoutSoFar) { return true }
            if !process.isRunning { return predicate(stdoutSoFar) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    func signal(_ number: Int32) {
        if process.isRunning { kill(process.processIdentifier, number) }
    }
}

enum Binaries {
    /// The directory of the test bundle, where SwiftPM also puts the package's executables.
    static let directory: URL = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The bundle may be a directory (macOS .xctest) rather than a single file.
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("netrelayctl").path),
              dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()

    static var netrelayctl: URL { directory.appendingPathComponent("netrelayctl") }
    static var netrelayd: URL { directory.appendingPathComponent("netrelayd") }
}

/// Runs netrelayctl to its end (at most `seconds`, then it is killed and the test fails).
func ctl(_ arguments: String..., seconds: Double = 20) async throws -> RunResult {
    let child = try ChildProcess(Binaries.netrelayctl, arguments)
    let result = await child.wait(seconds: seconds)
    #expect(!result.killed, "netrelayctl \(arguments.joined(separator: " ")) was still running after \(seconds) s")
    return result
}

func startCtl(_ arguments: String...) throws -> ChildProcess {
    try ChildProcess(Binaries.netrelayctl, arguments)
}
