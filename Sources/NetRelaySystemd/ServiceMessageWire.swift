import NetRelayCore
import NetRelayConfig

/// sd_notify(3)'s wire format for `ServiceMessage`: newline-separated `KEY=value` assignments,
/// in the order given, sent as one datagram.
public enum ServiceMessageWire {
    public static func render(_ messages: [ServiceMessage]) -> String {
        messages.map(render).joined(separator: "\n")
    }

    static func render(_ message: ServiceMessage) -> String {
        switch message {
        case .ready: return "READY=1"
        case .reloading(let usec): return "RELOADING=1\nMONOTONIC_USEC=\(usec)"
        case .stopping: return "STOPPING=1"
        // STATUS= is one line; systemd shows it verbatim in `systemctl status`.
        case .status(let text): return "STATUS=" + statusText(text)
        case .errno(let code): return "ERRNO=\(code)"
        case .watchdog: return "WATCHDOG=1"
        case .fdStore(let name): return "FDSTORE=1\nFDNAME=\(name)"
        case .fdStoreRemove(let name): return "FDSTOREREMOVE=1\nFDNAME=\(name)"
        }
    }

    /// systemd drops a whole notification that holds a NUL or is longer than its buffer (4 KiB in
    /// systemd 252: READY=1 would go with it), and reads a newline as the start of the next
    /// assignment. So the text is escaped (`TextEscaping`) and cut to `statusLimit` bytes.
    static func statusText(_ text: String) -> String {
        let escaped = TextEscaping.escape(text, for: .line)
        guard escaped.utf8.count > statusLimit else { return escaped }
        var cut = ""
        var size = 0
        for scalar in escaped.unicodeScalars {
            size += UTF8.width(scalar)
            if size > statusLimit - 4 { break }
            cut.unicodeScalars.append(scalar)
        }
        return cut + " …"
    }

    /// The most STATUS= text one notification carries: leaves room for the other assignments.
    static let statusLimit = 2048
}
