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
        case .status(let text): return "STATUS=" + text.split(whereSeparator: \.isNewline).joined(separator: " ")
        case .errno(let code): return "ERRNO=\(code)"
        case .watchdog: return "WATCHDOG=1"
        case .fdStore(let name): return "FDSTORE=1\nFDNAME=\(name)"
        case .fdStoreRemove(let name): return "FDSTOREREMOVE=1\nFDNAME=\(name)"
        }
    }
}
