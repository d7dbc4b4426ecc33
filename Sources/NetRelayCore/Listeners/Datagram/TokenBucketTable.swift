import NetRelayConfig

/// Per-source token buckets with a hard bound on how many sources it remembers.
///
/// Each source may send `burst` datagrams at once and `rate` per second after that. The table
/// holds at most `maxSources` buckets; a new source beyond that takes the slot of the least
/// recently seen one (exact LRU: an intrusive doubly-linked list threaded through a fixed
/// array, indexed by a dictionary, so every operation is O(1) and nothing is allocated once
/// the table is full). Spoofed sources can therefore cost at most `maxSources` entries of
/// memory, never more.
///
/// Forgetting a source must not hand it a fresh bucket early (an attacker who pushes
/// `maxSources` forged sources through would otherwise buy a victim a new burst each time).
/// A bucket that has had time to refill (its source unseen for `burst / rate` seconds) holds
/// nothing worth remembering; forgetting one that has not is "eviction pressure", and then the
/// new source starts with an empty bucket (its first datagram passes, the rest at `rate`)
/// instead of a full one. Why that is enough: a source that comes back after being evicted
/// takes the slot of the least recently seen entry, which was seen after it; if that entry had
/// time to refill, so did the returning source's own bucket, so it gets nothing it would not
/// have had without the eviction. What forged sources get in total is bounded by the
/// listener's total rate limit (`TokenBucket`), not here.
///
/// IPv6 sources are keyed by their /64: one host usually controls a whole /64 and could
/// otherwise get a fresh bucket per address. Not thread-safe: use it on one event loop.
struct TokenBucketTable {
    private struct Entry {
        var key: IPAddress
        var tokens: Double
        /// Monotonic nanoseconds of the last refill.
        var updated: UInt64
        var newer: Int32
        var older: Int32
    }

    private(set) var rate: Double
    private(set) var burst: Double
    private(set) var maxSources: Int
    /// How many sources were forgotten to make room for new ones.
    private(set) var evictions = 0
    /// How many of those evictions forgot a bucket that had not refilled (the new source then
    /// started with an empty bucket).
    private(set) var pressuredEvictions = 0

    private var slots: [IPAddress: Int32] = [:]
    private var entries: [Entry] = []
    /// Most recently seen.
    private var newest: Int32 = -1
    /// Least recently seen: the next to be evicted.
    private var oldest: Int32 = -1

    init(rate: Double, burst: Int, maxSources: Int) {
        precondition(rate > 0 && burst >= 1 && maxSources >= 1)
        self.rate = rate
        self.burst = Double(burst)
        self.maxSources = maxSources
    }

    var count: Int { entries.count }

    /// The key a source is limited under.
    static func key(_ address: IPAddress) -> IPAddress {
        switch address.unmapped {
        case .v6(let hi, _): return .v6(hi, 0)
        case let v4: return v4
        }
    }

    /// Takes one token from the source's bucket; false when it has none left (drop the datagram).
    mutating func take(_ source: IPAddress, now: UInt64) -> Bool {
        let key = TokenBucketTable.key(source)
        if let slot = slots[key] {
            let i = Int(slot)
            refill(i, now: now)
            touch(slot)
            if entries[i].tokens >= 1 {
                entries[i].tokens -= 1
                return true
            }
            return false
        }
        insert(key, tokens: underEvictionPressure(now: now) ? 0 : burst - 1, now: now)
        return true
    }

    /// Whether a new source would evict an entry that was seen less than `burst / rate`
    /// seconds ago, i.e. whose bucket may not be full yet.
    private mutating func underEvictionPressure(now: UInt64) -> Bool {
        guard entries.count >= maxSources, oldest >= 0 else { return false }
        let refillSeconds = burst / rate
        let pressured = elapsedSeconds(from: entries[Int(oldest)].updated, to: now) < refillSeconds
        if pressured { pressuredEvictions += 1 }
        return pressured
    }

    /// Tokens the source has now (for tests and diagnostics); a source not in the table has a full bucket.
    func tokens(_ source: IPAddress, now: UInt64) -> Double {
        guard let slot = slots[TokenBucketTable.key(source)] else { return burst }
        let e = entries[Int(slot)]
        return min(burst, e.tokens + elapsedSeconds(from: e.updated, to: now) * rate)
    }

    func contains(_ source: IPAddress) -> Bool { slots[TokenBucketTable.key(source)] != nil }

    /// Applies new limits in place (a reload), keeping what each source has used; a smaller
    /// `maxSources` forgets the least recently seen sources down to the new bound.
    mutating func reconfigure(rate: Double, burst: Int, maxSources: Int) {
        precondition(rate > 0 && burst >= 1 && maxSources >= 1)
        self.rate = rate
        self.burst = Double(burst)
        self.maxSources = maxSources
        for i in entries.indices where entries[i].tokens > self.burst { entries[i].tokens = self.burst }
        guard entries.count > maxSources else { return }
        // Rebuild, newest first, keeping maxSources entries; rare enough not to be clever.
        var kept: [Entry] = []
        kept.reserveCapacity(maxSources)
        var cursor = newest
        while cursor >= 0 && kept.count < maxSources {
            kept.append(entries[Int(cursor)])
            cursor = entries[Int(cursor)].older
        }
        evictions += entries.count - kept.count
        entries = []
        slots = [:]
        newest = -1
        oldest = -1
        for e in kept.reversed() { insert(e.key, tokens: e.tokens, now: e.updated) }
    }

    // MARK: Internals

    private func elapsedSeconds(from then: UInt64, to now: UInt64) -> Double {
        now > then ? Double(now - then) / 1e9 : 0
    }

    private mutating func refill(_ i: Int, now: UInt64) {
        let elapsed = elapsedSeconds(from: entries[i].updated, to: now)
        if elapsed > 0 {
            entries[i].tokens = min(burst, entries[i].tokens + elapsed * rate)
            entries[i].updated = now
        }
    }

    private mutating func insert(_ key: IPAddress, tokens: Double, now: UInt64) {
        let slot: Int32
        if entries.count < maxSources {
            slot = Int32(entries.count)
            entries.append(Entry(key: key, tokens: tokens, updated: now, newer: -1, older: -1))
        } else {
            slot = oldest
            unlink(slot)
            slots.removeValue(forKey: entries[Int(slot)].key)
            entries[Int(slot)] = Entry(key: key, tokens: tokens, updated: now, newer: -1, older: -1)
            evictions += 1
        }
        slots[key] = slot
        pushNewest(slot)
    }

    /// Moves an entry to the newest end.
    private mutating func touch(_ slot: Int32) {
        guard slot != newest else { return }
        unlink(slot)
        pushNewest(slot)
    }

    private mutating func unlink(_ slot: Int32) {
        let e = entries[Int(slot)]
        if e.newer >= 0 { entries[Int(e.newer)].older = e.older } else { newest = e.older }
        if e.older >= 0 { entries[Int(e.older)].newer = e.newer } else { oldest = e.newer }
        entries[Int(slot)].newer = -1
        entries[Int(slot)].older = -1
    }

    private mutating func pushNewest(_ slot: Int32) {
        entries[Int(slot)].older = newest
        entries[Int(slot)].newer = -1
        if newest >= 0 { entries[Int(newest)].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }
}

/// One token bucket: `burst` at once, `rate` per second after that. The listener-wide limit
/// (`totalRateLimit`) over all sources together. Not thread-safe: use it on one event loop.
struct TokenBucket {
    private(set) var rate: Double
    private(set) var burst: Double
    private var tokens: Double
    /// Monotonic nanoseconds of the last refill; nil until the first take.
    private var updated: UInt64?

    init(rate: Double, burst: Int) {
        precondition(rate > 0 && burst >= 1)
        self.rate = rate
        self.burst = Double(burst)
        self.tokens = Double(burst)
    }

    /// Takes one token; false when there is none left (drop the datagram).
    mutating func take(now: UInt64) -> Bool {
        if let updated {
            if now > updated {
                tokens = min(burst, tokens + Double(now - updated) / 1e9 * rate)
                self.updated = now
            }
        } else {
            updated = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// New limits (a reload), keeping what was used.
    mutating func reconfigure(rate: Double, burst: Int) {
        precondition(rate > 0 && burst >= 1)
        self.rate = rate
        self.burst = Double(burst)
        tokens = min(tokens, self.burst)
    }
}
