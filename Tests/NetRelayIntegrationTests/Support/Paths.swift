import Foundation

/// Where the package and the built binaries are. `scripts/test` builds before testing;
/// NETRELAYD_BIN / NETRELAYCTL_BIN override the paths (e.g. for a release build).
enum Paths {
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        // Tests/NetRelayIntegrationTests/Support/Paths.swift -> package root
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url
    }()

    static func binary(_ name: String, env: String) -> String {
        if let override = ProcessInfo.processInfo.environment[env], !override.isEmpty { return override }
        for config in ["debug", "release"] {
            let candidates = [
                packageRoot.appendingPathComponent(".build/\(config)/\(name)").path,
                packageRoot.appendingPathComponent(".build/x86_64-unknown-linux-gnu/\(config)/\(name)").path,
                packageRoot.appendingPathComponent(".build/aarch64-unknown-linux-gnu/\(config)/\(name)").path,
            ]
            if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        }
        return packageRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    static var netrelayd: String { binary("netrelayd", env: "NETRELAYD_BIN") }
    static var netrelayctl: String { binary("netrelayctl", env: "NETRELAYCTL_BIN") }

    static func makeTempDirectory(_ prefix: String = "netrelayd-test") -> String {
        var template = Array((NSTemporaryDirectory() + "\(prefix)-XXXXXX").utf8CString)
        let path = template.withUnsafeMutableBufferPointer { buf -> String in
            guard let p = mkdtemp(buf.baseAddress!) else { fatalError("mkdtemp failed: \(errno)") }
            return String(cString: p)
        }
        return path
    }
}

/// Errors a test helper throws; their text is the test failure message.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` until it is true or `timeout` passes. Timeouts here are upper bounds
/// against hanging, never assertions about speed.
@discardableResult
func waitUntil(timeout: Double = 10, interval: Double = 0.02, _ what: @autoclosure () -> String = "condition", _ condition: () throws -> Bool) throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: interval)
    }
    if try condition() { return true }
    throw TestFailure("timed out after \(timeout) s waiting for \(what())")
}
