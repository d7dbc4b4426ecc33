import NetRelayConfig

/// Decides whether a datagram's source may be answered, in the spirit of OpenBSD inetd's
/// `dg_badinput()`: a reply to a broadcast or multicast source would reach a whole subnet or
/// group, and one to a privileged port could start a loop with another UDP service (echo
/// answering chargen); a reflector that answers them can be aimed at a network.
struct ReplySourceCheck: Sendable, Equatable {
    /// Apply the inetd-style filter (multicast, broadcast, 0.0.0.0/8, 255.0.0.0/8, ports < 1024).
    var rejectBadSources: Bool
    /// IPv4 broadcast addresses of this host (`InterfaceAddresses.broadcastAddresses`).
    var broadcastAddresses: Set<IPAddress>

    enum Verdict: Equatable {
        case answer
        /// A source no reply can be sent to: port 0, or a broadcast address. Always dropped,
        /// with or without `rejectBadSources`: the send would fail (EINVAL, or EACCES without
        /// SO_BROADCAST), and NIO closes a datagram socket on such an error.
        case unanswerable
        /// Refused by the dg_badinput-style filter.
        case bad
    }

    init(rejectBadSources: Bool, broadcastAddresses: Set<IPAddress>) {
        self.rejectBadSources = rejectBadSources
        self.broadcastAddresses = broadcastAddresses
    }

    func verdict(_ address: IPAddress, port: Int) -> Verdict {
        let a = address.unmapped
        if port == 0 { return .unanswerable }
        if case .v4 = a, broadcastAddresses.contains(a) { return .unanswerable }
        guard rejectBadSources else { return .answer }
        // Nothing outside this host can send from a loopback address (the kernel drops such
        // martians), so local tools keep working even from privileged ports.
        if a.isLoopback { return .answer }
        if port < 1024 || a.isMulticast || a.isUnspecified { return .bad }
        if case .v4(let v) = a, v >> 24 == 0 || v >> 24 == 255 { return .bad }
        return .answer
    }
}
