/// A rebroadcaster's part in relay loops: it hears on `listen` and sends, from that socket, to
/// each target; what reaches a listener is the subnet arithmetic of broadcast addresses.
extension BroadcastSpec {
    static let loopAdvice = LoopAdvice(
        eachPass: "one more prefix each pass",
        fix: "point a target at a port no listener in the loop listens on",
        optOut: (setting: "\"allowLoop\": true", because: "if the relay mark and the rate limits are to break it"))

    /// With `allowLoop` it adds no edges: the operator accepts that it may be part of a loop
    /// (the relay mark and the rate limits break it). Its edge to itself is left to the
    /// own-packet guard, and to the decoder's own check of a target on the listen port.
    public var relay: RelayPart {
        let outputs = allowLoop ? [] : targets.enumerated().map { i, target in
            RelayOutput(port: target.port, destination: target.description, keyPaths: ["targets[\(i)]", "target", "targetPort"],
                        reaches: { target.reaches($0) })
        }
        return .relays(RelayEdges(hears: [RelayEar(listen)], outputs: outputs, sendsFromWhereItHears: true, dropsOwnEchoes: true, advice: Self.loopAdvice))
    }
}

extension BroadcastSpec.Target {
    /// Whether a datagram sent to this target is heard by a UDP socket bound to `listen`. A
    /// wildcard socket hears everything sent to its port (an IPv6 one too, dual-stack); a socket
    /// on an address hears datagrams to that address, and broadcasts to its subnet: the subnet of
    /// a broadcast address is read from its trailing one bits (127.255.255.255 covers 127/8,
    /// 192.168.56.255 covers 192.168.56.0/24), which can only make the subnet larger than the
    /// real one, never miss a loop. An interface's broadcast address is only known at run time:
    /// it is taken to reach every non-loopback IPv4 address on the port.
    public func reaches(_ listen: Endpoint) -> Bool {
        guard port == listen.port else { return false }
        if listen.address.isUnspecified { return true }
        guard case .v4(let bound) = listen.address.unmapped else { return false }
        switch self {
        case .interface, .limitedBroadcast:
            return !listen.address.isLoopback
        case .address(let e):
            guard case .v4(let t) = e.address else { return false }
            if t == bound || t == UInt32.max { return true }
            let hostBits = (~t).trailingZeroBitCount
            guard hostBits >= 2 else { return false }
            let mask = UInt32.max << UInt32(hostBits)
            return bound & mask == t & mask
        }
    }
}
