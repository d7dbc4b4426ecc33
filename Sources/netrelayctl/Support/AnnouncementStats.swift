import NIOCore

/// Counts announcements, their spacing and, when they carry `"seq":N` (the daemon's `json`
/// format), the sequence numbers that never arrived. Keyed by sender, since several announcers
/// may share a group.
struct AnnouncementStats {
    /// Sequence numbers `after + 1 ..< next` from `from` never arrived.
    struct Gap: Sendable, Equatable {
        var from: String
        var after: Int
        var next: Int
        var missing: Int { next - after - 1 }
    }

    struct Summary: Sendable {
        var count: Int
        var senders: Int
        /// From the first announcement to the last.
        var duration: Double
        /// nil below two announcements.
        var meanInterval: Double?
        /// False when no announcement carried a sequence number: gaps are then unknown.
        var sequenced: Bool
        var gaps: [Gap]
        /// A number lower than or equal to the last one from that sender (duplicate, reordering or restart).
        var outOfOrder: Int
        var missing: Int { gaps.reduce(0) { $0 + $1.missing } }
    }

    private var count = 0
    private var first: NIODeadline?
    private var last: NIODeadline?
    private var senders: Set<String> = []
    private var lastSeq: [String: Int] = [:]
    private var gaps: [Gap] = []
    private var outOfOrder = 0

    mutating func record(from sender: String, seq: Int?, at time: NIODeadline) {
        count += 1
        if first == nil { first = time }
        last = time
        senders.insert(sender)
        guard let seq else { return }
        if let previous = lastSeq[sender] {
            if seq > previous + 1 {
                gaps.append(Gap(from: sender, after: previous, next: seq))
            } else if seq <= previous {
                outOfOrder += 1
            }
        }
        lastSeq[sender] = seq
    }

    var summary: Summary {
        var duration = 0.0
        if let first, let last { duration = Double((last - first).nanoseconds) / 1e9 }
        return Summary(
            count: count,
            senders: senders.count,
            duration: duration,
            meanInterval: count >= 2 ? duration / Double(count - 1) : nil,
            sequenced: !lastSeq.isEmpty,
            gaps: gaps,
            outOfOrder: outOfOrder
        )
    }

    /// The value of a top-level `"seq":N` in a JSON announcement; nil when there is none.
    static func sequenceNumber(in text: String) -> Int? {
        let scalars = Array(text.utf8)
        let key = Array("\"seq\"".utf8)
        guard scalars.count > key.count else { return nil }
        var i = 0
        while i + key.count <= scalars.count {
            if scalars[i..<(i + key.count)].elementsEqual(key) {
                var j = i + key.count
                while j < scalars.count, scalars[j] == UInt8(ascii: " ") { j += 1 }
                guard j < scalars.count, scalars[j] == UInt8(ascii: ":") else { i += 1; continue }
                j += 1
                while j < scalars.count, scalars[j] == UInt8(ascii: " ") { j += 1 }
                var digits = ""
                while j < scalars.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(scalars[j]) {
                    digits.append(Character(UnicodeScalar(scalars[j])))
                    j += 1
                }
                return Int(digits)
            }
            i += 1
        }
        return nil
    }
}

extension AnnouncementStats.Summary {
    var textLine: String {
        var parts = ["\(count) heard from \(senders) sender\(senders == 1 ? "" : "s") over \(Seconds.text(duration)) s"]
        if let meanInterval { parts.append("mean interval \(Seconds.text(meanInterval)) s") }
        if !sequenced {
            parts.append("no sequence numbers (only the json format has them), so gaps are unknown")
        } else if gaps.isEmpty {
            parts.append("no gaps")
        } else {
            let list = gaps.map { "after \($0.after) came \($0.next) from \($0.from)" }.joined(separator: ", ")
            parts.append("\(missing) missing in \(gaps.count) gap\(gaps.count == 1 ? "" : "s"): \(list)")
        }
        if outOfOrder > 0 { parts.append("\(outOfOrder) out of order or repeated") }
        return "stats: " + parts.joined(separator: ", ")
    }

    func addJSON(to o: inout JSONObject) {
        o.add("event", "stats")
        o.add("count", count)
        o.add("senders", senders)
        o.add("duration", duration)
        if let meanInterval { o.add("meanInterval", meanInterval) }
        guard sequenced else { return }
        o.add("missing", missing)
        let list = gaps.map { gap -> String in
            var g = JSONObject()
            g.add("from", gap.from); g.add("after", gap.after); g.add("next", gap.next); g.add("missing", gap.missing)
            return g.text
        }
        o.add("gaps", raw: "[" + list.joined(separator: ",") + "]")
        o.add("outOfOrder", outOfOrder)
    }
}
