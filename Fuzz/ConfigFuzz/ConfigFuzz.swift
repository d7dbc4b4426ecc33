/// libFuzzer entry point over the JSON parser and the configuration decoder.
///
/// Built only by `scripts/fuzz`, with swiftc over the NetRelayConfig target's sources (a target
/// with no dependency: nothing but the standard library and Glibc, so the sanitizer build skips
/// NIO entirely). The module it is compiled into is that target itself, hence no import.
///
/// Besides crashes, sanitizer reports and timeouts, it traps on broken promises of the decoder:
/// a refused configuration names at least one issue, every position is 1-based, and no message
/// quotes user text at length (values are cut to a readable excerpt).
@_cdecl("LLVMFuzzerTestOneInput")
public func netrelaydConfigFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let syntaxOK: Bool
    do {
        _ = try JSONParser.parse(bytes)
        syntaxOK = true
    } catch {
        precondition(error.location.line >= 1 && error.location.column >= 1, "bad position \(error.location)")
        precondition(error.message.utf8.count < 1024, "syntax message of \(error.message.utf8.count) bytes")
        syntaxOK = false
    }
    switch ConfigurationDecoder.decode(bytes, file: "fuzz.json", kinds: ConfigurationKinds.standard) {
    case .success(let configuration):
        precondition(syntaxOK, "a document the parser refused was decoded")
        precondition(!configuration.listeners.isEmpty, "a configuration without listeners was accepted")
        for warning in configuration.warnings(file: "fuzz.json") { check(warning) }
    case .failure(let error):
        precondition(!error.issues.isEmpty, "a refused configuration with no issue")
        for issue in error.issues { check(issue) }
        _ = error.summary
    }
    return 0
}

private func check(_ issue: ConfigurationIssue) {
    if let l = issue.location { precondition(l.line >= 1 && l.column >= 1, "bad position \(l) in: \(issue)") }
    // The longest legitimate messages list known keys or address-block advice: under 1 KiB.
    let n = issue.description.utf8.count
    precondition(n < 2048, "a message of \(n) bytes: \(issue.description.prefix(300))…")
}
