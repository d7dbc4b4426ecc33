/// The mark that keeps a rebroadcast from being rebroadcast again, across daemons and hosts:
/// everything a rebroadcaster or responder sends carries a DSCP value (the IP header's TOS /
/// traffic class byte, as udpbroadcastrelay's `--id` does), and a socket filter drops every
/// datagram that arrives with the same value before it reaches the receive queue.
///
/// Why a kernel filter rather than reading the TOS byte per datagram: NIO reads the socket
/// (recvmmsg) and keeps only the ECN bits of IP_TOS, so user space cannot see the DSCP without
/// replacing NIO's read path; the filter costs the daemon nothing per datagram (no wake-up, no
/// copy for a dropped one). It is counted from the socket's kernel drop counter
/// (`KernelDropCounter`), which also counts datagrams lost to a full receive queue.
///
/// Why not TTL: a TTL marker changes at every router and is easily confused with a sender's own
/// TTL; DSCP is kept across a LAN (broadcasts never cross a router anyway) and is what the
/// established relay uses. The default value 5 is in DSCP pool 3 (experimental and local use)
/// and has precedence 0, so Wi-Fi (WMM) still queues it as best effort.
public enum RelayMark {
    public static let defaultValue = 5
}
