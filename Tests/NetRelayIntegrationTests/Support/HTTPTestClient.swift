import Foundation

/// One HTTP exchange over a blocking socket, for the daemon's HTTP endpoint.
struct HTTPResult {
    var status: Int
    var head: String
    var body: String
    /// How the connection ended after the response.
    var end: TCPClient.ReadEnd
}

enum HTTPTestClient {
    /// Sends `raw` as is and reads until the server closes (or `timeout` passes).
    static func exchange(port: Int, host: String = "127.0.0.1", _ raw: [UInt8], timeout: Double = 10) throws -> HTTPResult {
        let client = try TCPClient(host: host, port: port, timeout: timeout)
        defer { client.close() }
        try client.send(raw)
        let (bytes, end) = client.receiveUntilEnd()
        return try parse(bytes, end: end)
    }

    static func get(port: Int, host: String = "127.0.0.1", _ path: String, method: String = "GET") throws -> HTTPResult {
        try exchange(port: port, host: host, Array("\(method) \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".utf8))
    }

    static func parse(_ bytes: [UInt8], end: TCPClient.ReadEnd) throws -> HTTPResult {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else {
            throw TestFailure("no HTTP response (\(bytes.count) bytes, \(end)): \(text.prefix(200))")
        }
        let head = String(text[..<split.lowerBound])
        let statusText = head.split(separator: " ").dropFirst().first.map(String.init) ?? ""
        guard let status = Int(statusText) else { throw TestFailure("bad status line: \(head.prefix(80))") }
        return HTTPResult(status: status, head: head, body: String(text[split.upperBound...]), end: end)
    }
}

/// The value of one series in a Prometheus exposition (`name{labels}` exactly as rendered).
func sample(_ exposition: String, _ series: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}
