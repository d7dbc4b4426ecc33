import Foundation
import Logging
import NIOCore
import NIOEmbedded
@testable import NetRelayConfig
@testable import NetRelayCore

/// A clock the test moves by hand (monotonic nanoseconds).
final class ManualClock: @unchecked Sendable {
    var now: UInt64 = 1_000_000_000
    func advance(seconds: Double) { now += UInt64(seconds * 1e9) }
    var read: () -> UInt64 { { self.now } }
}

/// Log lines kept in memory, so tests can count what a handler logged.
final class RecordedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [(Logger.Level, String)] = []

    var logger: Logger {
        var l = Logger(label: "test") { _ in RecordingLogHandler(log: self) }
        l.logLevel = .debug
        return l
    }

    func append(_ level: Logger.Level, _ message: String) {
        lock.lock()
        lines.append((level, message))
        lock.unlock()
    }

    func messages(atLeast level: Logger.Level) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines.filter { $0.0 >= level }.map(\.1)
    }
}

struct RecordingLogHandler: LogHandler {
    let log: RecordedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        log.append(event.level, event.message.description)
    }
}

func address(_ ip: String, _ port: Int) -> SocketAddress {
    try! SocketAddress(ipAddress: ip, port: port)
}

func datagram(_ text: String, from ip: String, _ port: Int) -> AddressedEnvelope<ByteBuffer> {
    AddressedEnvelope(remoteAddress: address(ip, port), data: ByteBuffer(string: text))
}

func datagram(bytes count: Int, from ip: String, _ port: Int) -> AddressedEnvelope<ByteBuffer> {
    AddressedEnvelope(remoteAddress: address(ip, port), data: ByteBuffer(repeating: UInt8(ascii: "x"), count: count))
}

extension EmbeddedChannel {
    /// Everything written and flushed so far, as (destination, text).
    func sentDatagrams() throws -> [(to: SocketAddress, text: String)] {
        var out: [(SocketAddress, String)] = []
        while let e = try readOutbound(as: AddressedEnvelope<ByteBuffer>.self) {
            out.append((e.remoteAddress, String(buffer: e.data)))
        }
        return out
    }

    /// Delivers several datagrams as one read batch (channelRead each, then one channelReadComplete).
    func deliverBatch(_ datagrams: [AddressedEnvelope<ByteBuffer>]) {
        for d in datagrams { pipeline.syncOperations.fireChannelRead(NIOAny(d)) }
        pipeline.syncOperations.fireChannelReadComplete()
    }
}

/// Fails every write with an errno, like a socket whose sends are refused.
final class FailingWrites: ChannelOutboundHandler {
    typealias OutboundIn = AddressedEnvelope<ByteBuffer>
    let code: Int32
    init(errno code: Int32) { self.code = code }
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.fail(IOError(errnoCode: code, reason: "sendmmsg"))
    }
}
