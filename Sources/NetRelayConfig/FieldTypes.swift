// The field types the decoders read with `ObjectReader` (strings, numbers, endpoints, addresses, CIDR lists).

extension FieldType where T == String {
    static var string: FieldType<String> {
        FieldType(expected: "a string") { node in
            if case .string(let s) = node.value { return .success(s) }
            return .failure(FieldProblem("expected a string, got \(node.kindDescription)"))
        }
    }

    /// A listener name: what logs, STATUS and socket-activation fd names use.
    static var name: FieldType<String> {
        FieldType(expected: "a name of 1-64 letters, digits, '-', '_' or '.'") { node in
            guard case .string(let s) = node.value else {
                return .failure(FieldProblem("expected a name (a string), got \(node.kindDescription)"))
            }
            // Only ASCII is allowed, so bytes are characters (and counting bytes is much cheaper).
            let ok = !s.isEmpty && s.utf8.count <= 64 && s.unicodeScalars.allSatisfy {
                ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "-" || $0 == "_" || $0 == "."
            }
            return ok ? .success(s)
                : .failure(FieldProblem("\(JSONNode.excerpt(s)) is not a valid name; use 1-64 letters, digits, '-', '_' or '.' (it appears in logs and is the FileDescriptorName= for socket activation)"))
        }
    }

    /// One of a fixed set of words.
    static func oneOf(_ words: [String]) -> FieldType<String> {
        @Sendable func list() -> String { words.map { "\"\($0)\"" }.joined(separator: ", ") }
        return FieldType(expected: "one of \(list())") { node in
            guard case .string(let s) = node.value else {
                return .failure(FieldProblem("expected one of \(list()), got \(node.kindDescription)"))
            }
            if words.contains(s) { return .success(s) }
            var message = "\(JSONNode.excerpt(s)) is not one of \(list())"
            if let near = ObjectReader.closest(to: s, among: words) { message += "; did you mean \"\(near)\"?" }
            return .failure(FieldProblem(message))
        }
    }
}

extension FieldType where T == Bool {
    static var bool: FieldType<Bool> {
        FieldType(expected: "true or false") { node in
            if case .bool(let b) = node.value { return .success(b) }
            if case .string(let s) = node.value, s == "true" || s == "false" {
                return .failure(FieldProblem("expected true or false without quotes, got the string \"\(s)\""))
            }
            return .failure(FieldProblem("expected true or false, got \(node.kindDescription)"))
        }
    }
}

extension FieldType where T == Int {
    /// An integer in a range; `unit` names what it counts ("bytes", "connections").
    static func integer(_ range: ClosedRange<Int>, unit: String = "") -> FieldType<Int> {
        @Sendable func expected() -> String { "an integer from \(range.lowerBound) to \(range.upperBound)\(unit.isEmpty ? "" : " \(unit)")" }
        return FieldType(expected: expected()) { node in
            guard case .number(let text) = node.value else {
                if case .string(let s) = node.value, Int(s) != nil {
                    return .failure(FieldProblem("expected \(expected()) as a number without quotes, got the string \"\(s)\""))
                }
                return .failure(FieldProblem("expected \(expected()), got \(node.kindDescription)"))
            }
            guard let v = Int(text) else {
                // Digits only: a whole number too large for Int.
                if text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }) {
                    return .failure(FieldProblem("\(JSONNode.excerpt(number: text)) is out of range; expected \(expected())"))
                }
                return .failure(FieldProblem("expected \(expected()), got \(JSONNode.excerpt(number: text)) (not a whole number)"))
            }
            guard range.contains(v) else {
                return .failure(FieldProblem("\(v) is out of range; expected \(expected())"))
            }
            return .success(v)
        }
    }
}

extension FieldType where T == Double {
    /// A duration in seconds (fractions allowed: 0.25 is 250 ms).
    static func seconds(_ range: ClosedRange<Double>, zeroMeans: String? = nil) -> FieldType<Double> {
        @Sendable func expected() -> String {
            "a number of seconds from \(formatSeconds(range.lowerBound)) to \(formatSeconds(range.upperBound))\(zeroMeans.map { " (0 \($0))" } ?? "")"
        }
        return FieldType(expected: expected()) { node in
            guard case .number(let text) = node.value, let v = Double(text) else {
                if case .string(let s) = node.value {
                    return .failure(FieldProblem("expected \(expected()), got the string \(JSONNode.excerpt(s)); write durations as a number of seconds, e.g. 0.5 or 30"))
                }
                return .failure(FieldProblem("expected \(expected()), got \(node.kindDescription)"))
            }
            guard range.contains(v) else { return .failure(FieldProblem("\(JSONNode.excerpt(number: text)) is out of range; expected \(expected())")) }
            return .success(v)
        }
    }
}

extension String {
    /// "[::1]" -> "::1"
    var trimmingBrackets: String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }
}

extension FieldType where T == Endpoint {
    /// "ADDR:PORT" with an IP literal.
    static func endpoint(ipv4Only: Bool = false, allowPortZero: Bool = true) -> FieldType<Endpoint> {
        let expected = ipv4Only ? "an IPv4 address and port such as \"192.0.2.255:2002\"" : "an address and port such as \"127.0.0.1:2000\" or \"[::1]:2000\""
        return FieldType(expected: expected) { node in
            guard case .string(let s) = node.value else {
                return .failure(FieldProblem("expected \(expected), got \(node.kindDescription)"))
            }
            switch Endpoint.parse(s) {
            case .success(let e):
                if ipv4Only && !e.address.isIPv4 {
                    return .failure(FieldProblem("\(JSONNode.excerpt(s)) is IPv6; IPv6 has no broadcast, expected \(expected)"))
                }
                if !allowPortZero && e.port == 0 {
                    return .failure(FieldProblem("port 0 is not a valid destination; expected \(expected)"))
                }
                return .success(e)
            case .failure(.missingPort):
                // "127.0.0.1" lacks only the port; "not-an-address" lacks everything.
                if IPAddress(s) != nil || IPAddress(s.trimmingBrackets) != nil {
                    return .failure(FieldProblem("\(JSONNode.excerpt(s)) has no port; expected \(expected)"))
                }
                return .failure(FieldProblem("\(JSONNode.excerpt(s)) is not an address and port; expected \(expected)"))
            case .failure(.badPort(let p)):
                if p.utf8.count > 1, p.hasPrefix("0"), p.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let port = Int(p), port <= 65535,
                   let colon = s.lastIndex(of: ":") {
                    // "00080" is not octal anywhere else either; JSON itself refuses 00080 as a number.
                    let fixed = "\(s[..<colon]):\(port)"
                    return .failure(FieldProblem("\(JSONNode.excerpt(s)) has a port with leading zeros; write \(JSONString.quote(fixed))"))
                }
                return .failure(FieldProblem("\(JSONNode.excerpt(p)) in \(JSONNode.excerpt(s)) is not a port; ports are 0-65535"))
            case .failure(.hostName(let h)):
                let hint = h == "localhost" ? "; use \"127.0.0.1\" or \"[::1]\"" : ""
                return .failure(FieldProblem("\(JSONNode.excerpt(h)) is a host name; netrelayd binds IP addresses only (no DNS at start-up)\(hint)"))
            case .failure(.badAddress(let a)):
                if !s.hasPrefix("["), let colon = s.lastIndex(of: ":"), IPAddress(String(s[..<colon])) != nil {
                    let fixed = "[\(s[..<colon])]\(s[colon...])"
                    return .failure(FieldProblem("\(JSONNode.excerpt(s)) is an IPv6 address without brackets; write \(JSONString.quote(fixed))"))
                }
                return .failure(FieldProblem("\(JSONNode.excerpt(a)) is not an IP address; expected \(expected)"))
            }
        }
    }
}

extension FieldType where T == IPAddress {
    static var ipAddress: FieldType<IPAddress> {
        FieldType(expected: "an IP address such as \"239.255.0.1\"") { node in
            guard case .string(let s) = node.value else {
                return .failure(FieldProblem("expected an IP address (a string), got \(node.kindDescription)"))
            }
            guard let a = IPAddress(s) else {
                return .failure(FieldProblem("\(JSONNode.excerpt(s)) is not an IPv4 or IPv6 address"))
            }
            return .success(a)
        }
    }
}

extension FieldType where T == [CIDRBlock] {
    static var cidrList: FieldType<[CIDRBlock]> {
        let expected = "a list of address blocks such as [\"127.0.0.0/8\", \"::1\"]"
        return FieldType(expected: expected) { node in
            guard case .array(let items) = node.value else {
                if case .string(let s) = node.value, CIDRBlock(s) != nil {
                    return .failure(FieldProblem("expected a list; write [\(JSONString.quote(s))]"))
                }
                return .failure(FieldProblem("expected \(expected), got \(node.kindDescription)"))
            }
            var blocks: [CIDRBlock] = []
            var bad: [String] = []
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item.value, let b = CIDRBlock(s) else {
                    bad.append("item \(i), \(item.kindDescription), is not an address block")
                    continue
                }
                blocks.append(b)
            }
            if !bad.isEmpty {
                return .failure(FieldProblem(bad.joined(separator: "; ") + "; write an address (\"192.0.2.7\") or address/prefix (\"10.0.0.0/8\", \"2001:db8::/32\"; IPv4 prefixes go up to /32, IPv6 up to /128)"))
            }
            return .success(blocks)
        }
    }
}
