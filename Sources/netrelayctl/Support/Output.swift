#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import enum NetRelayConfig.JSONString
import enum NetRelayConfig.TextEscaping

/// `--json`, shared by every subcommand.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object per event on stdout instead of text (schema: netrelayctl --help).")
    var json = false
}

/// Something a probe saw; printed the moment it happens.
enum Event: Sendable {
    case connected(peer: String, local: String)
    case sent(to: String, text: String, bytes: Int)
    /// A chunk read from a TCP connection (chunks are not messages: the kernel may split or merge them).
    case data(text: String, bytes: Int)
    case halfClosed(peer: String)
    /// `by` is "peer" when the other side closed, "probe" when netrelayctl did.
    case closed(by: String, peer: String, received: Int)
    case reply(from: String, text: String, bytes: Int)
    case listening(local: String)
    case joined(group: String, interface: String?, interfaceAddress: String?, local: String)
    case broadcast(from: String, to: String?, text: String, bytes: Int)
    case announcement(from: String, text: String, bytes: Int, seq: Int?)
    case stats(AnnouncementStats.Summary)
    case timeout(after: Double, waitingFor: String)
    case error(reason: String)
}

/// Prints events as text lines or JSON lines, unbuffered so that a pipe sees each one at once.
struct Output: Sendable {
    var json: Bool

    func emit(_ event: Event) {
        if json {
            StandardStream.out(event.jsonLine + "\n")
        } else if let line = event.textLine {
            StandardStream.out(line + "\n")
        }
    }
}

enum StandardStream {
    static func out(_ text: String) { write(text, to: 1) }
    static func err(_ text: String) { write(text, to: 2) }

    /// write(2) directly: stdio's buffer would hold lines back when stdout is a pipe. Each line
    /// escaped (`TextEscaping`): what we print comes from a peer or a daemon (a datagram, a
    /// listener name, an interface name) and must not drive the terminal.
    private static func write(_ text: String, to fd: Int32) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let bytes = Array(lines.map { TextEscaping.escape(String($0), for: .line) }.joined(separator: "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return  // a closed stdout is not worth a second error
            }
            offset += n
        }
    }

    #if canImport(Darwin)
    private static let systemWrite = Darwin.write
    #elseif canImport(Musl)
    private static let systemWrite = Musl.write
    #else
    private static let systemWrite = Glibc.write
    #endif
}

extension Event {
    /// The text form; nil for events whose reason goes to stderr anyway (timeout, error).
    var textLine: String? {
        switch self {
        case .connected(let peer, let local):
            return "connected to \(peer) from \(local)"
        case .sent(let to, let text, let bytes):
            return "sent \(bytes) bytes to \(to): \(TextEscaping.escape(text, for: .line))"
        case .data(let text, let bytes):
            return "received \(bytes) bytes: \(TextEscaping.escape(text, for: .line))"
        case .halfClosed(let peer):
            return "sent FIN (write side shut down); reading until \(peer) closes"
        case .closed(let by, let peer, let received):
            let who = by == "peer" ? "\(peer) closed the connection" : "closed the connection to \(peer)"
            return "\(who) (\(received) bytes received in all)"
        case .reply(let from, let text, let bytes):
            return "reply from \(from) (\(bytes) bytes): \(TextEscaping.escape(text, for: .line))"
        case .listening(let local):
            return "listening on \(local)"
        case .joined(let group, let interface, let interfaceAddress, let local):
            var on = interface.map { " on \($0)" } ?? " on the interface the routing table picks"
            if let interfaceAddress { on += " (\(interfaceAddress))" }
            return "joined \(group)\(on), listening on \(local)"
        case .broadcast(let from, let to, let text, let bytes):
            let dest = to.map { " to \($0)" } ?? ""
            return "broadcast from \(from)\(dest) (\(bytes) bytes): \(TextEscaping.escape(text, for: .line))"
        case .announcement(let from, let text, let bytes, let seq):
            let s = seq.map { ", seq \($0)" } ?? ""
            return "announcement from \(from) (\(bytes) bytes\(s)): \(TextEscaping.escape(text, for: .line))"
        case .stats(let summary):
            return summary.textLine
        case .timeout, .error:
            return nil
        }
    }

    var jsonLine: String {
        var o = JSONObject()
        switch self {
        case .connected(let peer, let local):
            o.add("event", "connected"); o.add("peer", peer); o.add("local", local)
        case .sent(let to, let text, let bytes):
            o.add("event", "sent"); o.add("to", to); o.add("text", text); o.add("bytes", bytes)
        case .data(let text, let bytes):
            o.add("event", "data"); o.add("text", text); o.add("bytes", bytes)
        case .halfClosed(let peer):
            o.add("event", "half-closed"); o.add("peer", peer)
        case .closed(let by, let peer, let received):
            o.add("event", "closed"); o.add("by", by); o.add("peer", peer); o.add("received", received)
        case .reply(let from, let text, let bytes):
            o.add("event", "reply"); o.add("from", from); o.add("text", text); o.add("bytes", bytes)
        case .listening(let local):
            o.add("event", "listening"); o.add("local", local)
        case .joined(let group, let interface, let interfaceAddress, let local):
            o.add("event", "joined"); o.add("group", group)
            if let interface { o.add("interface", interface) }
            if let interfaceAddress { o.add("interfaceAddress", interfaceAddress) }
            o.add("local", local)
        case .broadcast(let from, let to, let text, let bytes):
            o.add("event", "broadcast"); o.add("from", from)
            if let to { o.add("to", to) }
            o.add("text", text); o.add("bytes", bytes)
        case .announcement(let from, let text, let bytes, let seq):
            o.add("event", "announcement"); o.add("from", from); o.add("text", text); o.add("bytes", bytes)
            if let seq { o.add("seq", seq) }
        case .stats(let summary):
            summary.addJSON(to: &o)
        case .timeout(let after, let waitingFor):
            o.add("event", "timeout"); o.add("after", after); o.add("waitingFor", waitingFor)
        case .error(let reason):
            o.add("event", "error"); o.add("reason", reason)
        }
        return o.text
    }
}

/// A JSON object built in key order (scripts and people both read it; order keeps diffs calm).
struct JSONObject {
    private var members: [String] = []

    mutating func add(_ key: String, _ value: String) { members.append("\(JSONString.quote(key)):\(JSONString.quote(value))") }
    mutating func add(_ key: String, _ value: Int) { members.append("\(JSONString.quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Double) { members.append("\(JSONString.quote(key)):\(Seconds.text(value))") }
    mutating func add(_ key: String, raw: String) { members.append("\(JSONString.quote(key)):\(raw)") }

    var text: String { "{" + members.joined(separator: ",") + "}" }
}

enum Seconds {
    /// Milliseconds precision without Foundation: 1.5 -> "1.5", 2 -> "2", 0.0004 -> "0".
    static func text(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let ms = Int((abs(value) * 1000).rounded())
        let sign = value < 0 && ms > 0 ? "-" : ""
        var fraction = String(ms % 1000)
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return sign + String(ms / 1000) + (fraction.isEmpty ? "" : "." + fraction)
    }
}
