#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// "address already in use", the lower-case strerror text (as systemd's messages read), and the
/// errno name for searching.
public func errnoDescription(_ code: Int32) -> String {
    guard let s = strerror(code) else { return "errno \(code)" }
    let text = String(cString: s)
    guard let first = text.first else { return "errno \(code)" }
    // "Address already in use" -> "address already in use"; keep acronyms such as "I/O" intact.
    let second = text.dropFirst().first
    if let second, second.isUppercase { return text }
    return first.lowercased() + text.dropFirst()
}
