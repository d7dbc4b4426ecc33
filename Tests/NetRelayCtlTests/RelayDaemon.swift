import Foundation
import Testing

/// The real netrelayd, run as `netrelayd --config FILE` with a NOTIFY_SOCKET of our own, so
/// that a test starts probing once the daemon said READY=1. Stopped with SIGTERM (SIGKILL
/// after 10 s), by its own pid.
final class RelayDaemon: @unchecked Sendable {
    private let directory: URL
    private let process = Process()
    private let logURL: URL
    private let notifyFD: Int32

    /// Starts netrelayd with `listeners` (JSON objects) and waits for READY=1. A listener kind
    /// the daemon does not implement yet cancels the test with the daemon's own words; any
    /// other failure to start fails it.
    static func start(_ listeners: [String]) async throws -> RelayDaemon {
        let daemon = try RelayDaemon(config: #"{"listeners": ["# + listeners.joined(separator: ", ") + "]}")
        try await daemon.waitReady()
        return daemon
    }

    private init(config: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ctltest-daemon-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configURL = directory.appendingPathComponent("config.json")
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        logURL = directory.appendingPathComponent("stderr.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)

        let notifyPath = directory.appendingPathComponent("notify.sock").path
        notifyFD = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in notifyPath.utf8.enumerated() where i < raw.count - 1 { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(notifyFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestSetupError("cannot bind the notify socket \(notifyPath)") }

        guard FileManager.default.isExecutableFile(atPath: Binaries.netrelayd.path) else {
            throw TestSetupError("\(Binaries.netrelayd.path) is not built")
        }
        process.executableURL = Binaries.netrelayd
        process.arguments = ["--config", configURL.path, "--log-level", "debug"]
        var environment = ProcessInfo.processInfo.environment
        for key in ["WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM"] {
            environment.removeValue(forKey: key)
        }
        environment["NOTIFY_SOCKET"] = notifyPath
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: logURL)
        process.standardError = try FileHandle(forWritingTo: logURL)
        try process.run()
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    private func waitReady() async throws {
        let deadline = Date().addingTimeInterval(20)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = recv(notifyFD, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0, String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").contains("READY=1") {
                return
            }
            if !process.isRunning {
                let log = self.log
                stop()
                if log.contains("not implemented yet") {
                    try Test.cancel("netrelayd on this branch cannot start the listener yet: \(log.split(separator: "\n").last ?? "")")
                }
                Issue.record("netrelayd exited with \(process.terminationStatus) before READY=1:\n\(log)")
                throw TestSetupError("netrelayd did not start")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        stop()
        Issue.record("netrelayd sent no READY=1 within 20 s:\n\(log)")
        throw TestSetupError("netrelayd did not get ready")
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        close(notifyFD)
        try? FileManager.default.removeItem(at: directory)
    }
}
