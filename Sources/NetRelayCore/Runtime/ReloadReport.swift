import NetRelayConfig

extension Supervisor {
    /// What a reload did, for the log and STATUS=.
    public struct ReloadReport: Sendable {
        public var number: Int
        public var added: [String] = []
        public var changed: [String] = []
        public var removed: [String] = []
        public var unchanged: [String] = []
        public var failures: [String] = []
        public var notes: [String] = []

        public var ok: Bool { failures.isEmpty }

        public var summary: String {
            func part(_ n: Int, _ word: String) -> String { "\(n) \(word)" }
            return [part(added.count, "added"), part(changed.count, "changed"), part(removed.count, "removed"), part(unchanged.count, "unchanged")].joined(separator: ", ")
        }

        /// "reload 2 ok (1 added, ...)" or "reload 2 FAILED for 1 listener(s): <first failure>", for STATUS=.
        var statusText: String {
            if ok { return "reload \(number) ok (\(summary))" }
            return "reload \(number) FAILED for \(failures.count) listener(s): \(failures[0])"
        }
    }
}
