#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// A probe did not get what it waited for: printed as one line, `netrelayctl: <reason>`, exit 1.
struct ProbeFailure: Error, Sendable, CustomStringConvertible {
    var reason: String

    init(_ reason: String) {
        self.reason = reason
    }

    var description: String { reason }
}

/// How a probe ended.
enum Outcome: Sendable, Equatable {
    case success
    case failure(String)
    /// Like `failure`, but the probe has already printed a `timeout` event.
    case timedOut(String)
}

enum ErrorText {
    /// One line for an error NIO reported while talking to `peer`.
    static func describe(_ error: any Error, peer: String) -> String {
        if let failure = error as? ProbeFailure { return failure.reason }
        if let connection = error as? NIOConnectionError {
            // Happy eyeballs tried every address; the first error is the one worth showing.
            if let first = connection.connectionErrors.first {
                return describe(first.error, peer: first.target.endpointText)
            }
            if let dns = connection.dnsAAAAError ?? connection.dnsAError {
                return "cannot resolve \(connection.host): \(dns)"
            }
            return "cannot connect to \(peer)"
        }
        if let channelError = error as? ChannelError, isConnectTimeout(channelError) {
            return "timed out connecting to \(peer)"
        }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused by \(peer)"
            case ECONNRESET: return "connection reset by \(peer)"
            case ETIMEDOUT: return "timed out connecting to \(peer)"
            case EHOSTUNREACH, ENETUNREACH: return "no route to \(peer)"
            case EADDRINUSE: return "address \(peer) is already in use (without SO_REUSEADDR/SO_REUSEPORT)"
            case EADDRNOTAVAIL: return "cannot use address \(peer): it is not an address of this host"
            case EACCES: return "permission denied for \(peer) (a broadcast address needs SO_BROADCAST, ports below 1024 need privileges)"
            default: return "\(peer): \(String(cString: strerror(io.errnoCode)))"
            }
        }
        return "\(peer): \(error)"
    }

    private static func isConnectTimeout(_ error: ChannelError) -> Bool {
        if case .connectTimeout = error { return true }
        return false
    }
}
