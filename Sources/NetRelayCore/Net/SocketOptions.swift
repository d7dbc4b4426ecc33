#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NetRelayConfig

extension ChannelOptions.Types.SocketOption {
    /// SO_REUSEPORT, which NIO does not name: several sockets (instances, event loops) share a port
    /// and the kernel spreads connections and datagrams across them.
    static var reusePort: ChannelOptions.Types.SocketOption {
        .init(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT))
    }
}
