import Foundation

/// netrelayd running inside one host of a `NetworkLab`, with its config and log in a temp directory.
/// Readiness is read from the log (no notify socket crosses into the namespace). Stopped by the lab.
final class LabDaemon {
    let directory: String
    let configPath: String
    let logPath: String
    let process: Process

    init(lab: NetworkLab, host: Int, config: String) throws {
        directory = Paths.makeTempDirectory("netrelayd-lab")
        configPath = directory + "/config.json"
        logPath = directory + "/daemon.log"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        process = try lab.spawn(host, ["env", "-u", "NOTIFY_SOCKET", Paths.netrelayd, "--config", configPath, "--log-level", "debug"], output: logPath)
        try waitForLog("Ready:")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func waitForLog(_ text: String, timeout: Double = 15) throws {
        try waitUntil(timeout: timeout, "daemon log line containing \(text.debugDescription); log so far:\n\(log)") {
            if !process.isRunning && !log.contains(text) { throw TestFailure("netrelayd exited (\(process.terminationStatus)); log:\n\(log)") }
            return log.contains(text)
        }
    }

    /// `ip netns exec` and `env` exec the daemon, so the process id is the daemon's.
    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

/// Small python3 clients run inside lab hosts; each prints one JSON object per line.
enum LabScripts {
    /// Binds 0.0.0.0:PORT (SO_REUSEADDR and SO_BROADCAST on), prints {"ready": true}, optionally sends TEXT to
    /// HOST:DPORT from that socket, then prints every datagram heard for DURATION seconds.
    /// Usage: PORT DURATION [TEXT HOST DPORT]
    static let listen = #"""
import json, signal, socket, sys, time
# Children of the test runner may inherit SIGTERM ignored or blocked; NetworkLab.destroy() relies on it.
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
port, duration = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(("0.0.0.0", port))
print(json.dumps({"ready": True}), flush=True)
if len(sys.argv) > 3:
    s.sendto(sys.argv[3].encode(), (sys.argv[4], int(sys.argv[5])))
end = time.time() + duration
while True:
    left = end - time.time()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        data, addr = s.recvfrom(65535)
    except socket.timeout:
        break
    print(json.dumps({"from": "%s:%d" % addr, "text": data.decode(errors="replace")}), flush=True)
"""#

    /// Sends one UDP datagram with a forged source through a raw socket (root only).
    /// Usage: SRC SPORT DST DPORT TEXT
    static let spoof = #"""
import socket, struct, sys
src, sport, dst, dport, text = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5].encode()
udp = struct.pack("!HHHH", sport, dport, 8 + len(text), 0) + text
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP, 0, socket.inet_aton(src), socket.inet_aton(dst))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(ip + udp, (dst, 0))
print("{\"sent\": true}", flush=True)
"""#

    /// The datagrams a `listen` run printed so far.
    static func heard(_ path: String) -> [(from: String, text: String)] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let from = obj["from"] as? String, let t = obj["text"] as? String else { return nil }
            return (from, t)
        }
    }

    static func isReady(_ path: String) -> Bool {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains("\"ready\": true")
    }
}
