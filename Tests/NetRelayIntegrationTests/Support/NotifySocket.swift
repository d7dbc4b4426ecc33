import Foundation

/// A fake systemd notification socket: a unix datagram socket the test binds and passes to
/// the daemon as NOTIFY_SOCKET, recording every message sd_notify(3) sends.
///
/// A reader thread empties it continuously, as systemd does: once the socket's queue is full
/// (net.unix.max_dgram_qlen, 10 messages) sd_notify blocks the daemon.
final class NotifySocket: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private var stopped = false
    private var reader: Thread?

    init(directory: String) throws {
        path = directory + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket(AF_UNIX) failed: \(errno)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw TestFailure("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw TestFailure("bind(\(path)) failed: \(errno)") }
        let thread = Thread { [weak self] in
            while let me = self, !me.isStopped {
                me.drain(wait: 0.05)
            }
        }
        thread.start()
        reader = thread
    }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    /// Stops the reader thread; called by the owner when the test is done.
    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    deinit { close(fd) }

    /// Reads whatever has arrived, without blocking longer than `wait` seconds.
    private func drain(wait: Double) {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var timeout = Int32(wait * 1000)
        var buf = [UInt8](repeating: 0, count: 65536)
        while poll(&pfd, 1, timeout) > 0 {
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { break }
            let message = String(decoding: buf[0..<n], as: UTF8.self)
            lock.lock()
            received.append(message)
            lock.unlock()
            timeout = 0
        }
    }

    /// Everything received so far, in order (only the reader thread receives).
    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// Waits for a message satisfying `predicate`, considering only messages after index `from`.
    @discardableResult
    func wait(timeout: Double = 15, after from: Int = 0, _ what: String, _ predicate: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let all = messages
            if let hit = all.dropFirst(from).first(where: predicate) { return hit }
            if Date() >= deadline {
                throw TestFailure("no notification \(what) within \(timeout) s; got: \(all.dropFirst(from).map { $0.debugDescription })")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// The value of KEY= in a message, e.g. `value("STATUS", in: m)`.
    static func value(_ key: String, in message: String) -> String? {
        for line in message.split(separator: "\n") where line.hasPrefix(key + "=") {
            return String(line.dropFirst(key.count + 1))
        }
        return nil
    }

    /// The last STATUS= sent so far.
    var lastStatus: String? {
        messages.reversed().lazy.compactMap { NotifySocket.value("STATUS", in: $0) }.first
    }
}
