import NetRelayConfig

/// The FDNAME= under which netrelayd keeps a socket in systemd's file descriptor store. A socket
/// unit's FileDescriptorName= is a listener name, which cannot contain '/' (see the config's name
/// rule), so these never collide with socket activation; ':' is not allowed in fd names at all.
public enum StoredSocketName: Sendable, Hashable, CustomStringConvertible {
    /// `listen/NAME`: the listening (stream) or bound (datagram) socket of listener NAME.
    case listener(String)
    /// `listen/NAME/KEY`: a further socket of listener NAME, under a key its kind chooses (a
    /// udp-responder with `eventLoopThreads` N: "1" to "N-1", one per further event loop).
    case socket(String, key: String)
    /// `conn/NAME/N`: the Nth established connection of listener NAME.
    case connection(String, Int)

    public init?(parsing name: String) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, !parts[1].isEmpty else { return nil }
        let listener = String(parts[1])
        switch (parts[0], parts.count) {
        case ("listen", 2):
            self = .listener(listener)
        case ("listen", 3):
            guard Self.isValidKey(parts[2]) else { return nil }
            self = .socket(listener, key: String(parts[2]))
        case ("conn", 3):
            guard let n = Int(parts[2]), n >= 0 else { return nil }
            self = .connection(listener, n)
        default:
            return nil
        }
    }

    /// A key systemd accepts in an FDNAME= (printable ASCII, no ':') that keeps the name
    /// parseable (no '/'): a loop number, an interface name, "v6-5353".
    public static func isValidKey(_ key: some StringProtocol) -> Bool {
        !key.isEmpty && key.utf8.count <= 64 && key.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") }
    }

    public var listenerName: String {
        switch self {
        case .listener(let n), .socket(let n, _), .connection(let n, _): return n
        }
    }

    /// The FDNAME= value (at most 255 characters, systemd's limit; names and keys are shorter).
    public var description: String {
        switch self {
        case .listener(let n): return "listen/\(n)"
        case .socket(let n, let key): return "listen/\(n)/\(key)"
        case .connection(let n, let i): return "conn/\(n)/\(i)"
        }
    }
}
