import ArgumentParser
import NIOCore

/// A `HOST:PORT` argument: "127.0.0.1:2000", "[::1]:2000" or "localhost:2000".
///
/// The host stays text until `resolve()` so that errors about the shape of the argument are
/// usage errors (exit 2) and errors about the network are probe failures (exit 1).
struct HostPort: Sendable, Equatable, CustomStringConvertible {
    /// Without brackets: "::1", not "[::1]".
    var host: String
    var port: Int

    /// Parses `text`; `option` names the argument in error messages ("--to", "HOST:PORT").
    static func parse(_ text: String, option: String) throws -> HostPort {
        let example = "write HOST:PORT, e.g. 127.0.0.1:2000 or [::1]:2000"
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw ValidationError("\(option) '\(text)' opens a bracket for an IPv6 address but never closes it: \(example).")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), rest.count > 1 else {
                throw ValidationError("\(option) '\(text)' has no port after the address: \(example).")
            }
            portText = rest.dropFirst()
            guard IPLiteral.family(String(host)) == .v6 else {
                throw ValidationError("\(option) '\(text)': '\(host)' in brackets is not an IPv6 address: \(example).")
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw ValidationError("\(option) '\(text)' has no port: \(example).")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                throw ValidationError("\(option) '\(text)' looks like an IPv6 address without brackets: write it as [\(host)]:\(portText).")
            }
        }
        guard !host.isEmpty else {
            throw ValidationError("\(option) '\(text)' has no host before the port: \(example).")
        }
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (1...65535).contains(port) else {
            throw ValidationError("\(option) '\(text)': '\(portText)' is not a port number; use a number from 1 to 65535.")
        }
        return HostPort(host: String(host), port: port)
    }

    /// True when the host is an IP address literal rather than a name.
    var isLiteral: Bool { IPLiteral.family(host) != nil }

    var isIPv6: Bool { IPLiteral.family(host) == .v6 }

    /// The socket address; names are looked up with getaddrinfo (the first answer wins).
    func resolve() throws -> SocketAddress {
        do {
            if isLiteral { return try SocketAddress(ipAddress: host, port: port) }
            return try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw ProbeFailure("cannot resolve '\(host)': \(error)")
        }
    }

    var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

enum IPLiteral {
    enum Family { case v4, v6 }

    static func family(_ text: String) -> Family? {
        guard let address = try? SocketAddress(ipAddress: text, port: 0) else { return nil }
        switch address {
        case .v4: return .v4
        case .v6: return .v6
        default: return nil
        }
    }
}

extension SocketAddress {
    /// "127.0.0.1:2000" or "[::1]:2000" (NIO's own description adds the family and a host name).
    var endpointText: String {
        guard let ip = ipAddress, let port else { return description }
        if case .v6 = self { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }
}
