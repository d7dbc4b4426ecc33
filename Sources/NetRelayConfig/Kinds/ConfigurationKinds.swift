/// The configuration half of the table of kinds: every kind's keys and decoding, in the order
/// messages list them. The daemon's table (`ListenerKinds.standard` in NetRelayCore) has the same
/// rows with how each kind runs; `KindTableTests.standardTable` holds the two in step. Here, so
/// that check-config's decoding and the fuzzer need nothing but this target.
package enum ConfigurationKinds {
    package static let standard: [any ListenerKindSchema] = [
        TCPEchoKind(),
        UDPResponderKind(),
        BroadcastKind(),
        AnnouncerKind(),
    ]
}

/// The configuration entry points with the standard kinds.
extension ConfigurationDecoder {
    public static func decode(_ bytes: [UInt8], file: String) -> Result<Configuration, ConfigurationError> {
        decode(bytes, file: file, kinds: ConfigurationKinds.standard)
    }

    public static func decode(_ text: String, file: String) -> Result<Configuration, ConfigurationError> {
        decode(Array(text.utf8), file: file, kinds: ConfigurationKinds.standard)
    }
}

extension ConfigurationLoader {
    public static func load(path: String) -> Result<Configuration, ConfigurationError> {
        load(path: path, kinds: ConfigurationKinds.standard)
    }
}
