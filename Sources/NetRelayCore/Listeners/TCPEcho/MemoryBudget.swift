import Atomics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NetRelayConfig

/// Which connections to close when the daemon holds more than its memory budget.
enum MemoryBudgetRule {
    /// After going over, close until what is left is at most 3/4 of the budget, so that one
    /// more read does not cut the next connection at once.
    static func target(limit: Int) -> Int { limit / 4 * 3 }

    /// The indices of `holdings` (bytes each connection holds) to close, largest first, until
    /// the rest of `total` is at most `target`. Equal holdings: the earlier index first. Empty
    /// when `total` is already at or under the target.
    static func victims(holdings: [Int], total: Int, target: Int) -> [Int] {
        guard total > target else { return [] }
        let order = holdings.indices.sorted { holdings[$0] != holdings[$1] ? holdings[$0] > holdings[$1] : $0 < $1 }
        var left = total
        var out: [Int] = []
        for i in order where left > target && holdings[i] > 0 {
            out.append(i)
            left -= holdings[i]
        }
        return out
    }
}

/// Sent through a connection's pipeline when the daemon is back under its memory budget, so a
/// handler that paused its reads resumes them.
struct MemoryBudgetResumeEvent: Sendable {}

/// The daemon-wide bound on bytes held in user space for peers: echo queued in NIO's outbound
/// buffer for a peer that is not reading (the channel is not writable), including what NIO
/// drains from the socket after the peer's FIN regardless of backpressure.
///
/// Cheap on the normal path: a connection whose channel is writable holds at most the write
/// high-water mark and is not accounted at all; the only shared access per read is a load of
/// `over`, which is written only when the budget is crossed. A connection opens an `Account`
/// when it becomes unwritable, charges what it queues while unwritable, and settles the
/// account when it is writable again or closes.
///
/// Over budget: connections pause their reads (`pause`) and the accounts holding the most are
/// closed, largest first, until 3/4 of the budget is left (`MemoryBudgetRule`); those closures
/// are counted (`closedMemoryBudget`) and logged as a summary, the first at once, then one line
/// per 10 s. Once 4 MiB have been released, unused heap is returned to the system a second
/// later (glibc's malloc_trim, at most once a second), so RSS falls back once an attack is over.
public final class MemoryBudget: Sendable {
    /// One connection's holding.
    final class Account: Sendable {
        let channel: Channel
        let stats: ListenerStats
        /// Written on the connection's loop, read by whichever loop enforces the budget.
        let held = ManagedAtomic<Int>(0)
        let closing = ManagedAtomic<Bool>(false)

        init(channel: Channel, stats: ListenerStats) {
            self.channel = channel
            self.stats = stats
        }

        /// Picked to be closed: what it holds still counts until it is closed, and it queues no more.
        var isClosing: Bool { closing.load(ordering: .relaxed) }
    }

    private struct State {
        var accounts: [ObjectIdentifier: Account] = [:]
        var paused: [ObjectIdentifier: Channel] = [:]
        var throttle = LogThrottle(window: MemoryBudget.summaryWindow)
        var unloggedClosed = 0
        var unloggedBytes = 0
        var flushScheduled = false
        /// Bytes settled since the heap was last trimmed.
        var releasedSinceTrim = 0
        var trimScheduled = false
    }

    static let summaryWindow = TimeAmount.seconds(10)
    /// Trim the heap a second after this much has been released (at most once per second).
    static let trimThreshold = 4 << 20
    /// Counted for every unwritable connection besides its queued echo: the one receive buffer
    /// the connection keeps for its next read (`EchoReceiveAllocator`).
    static let receiveBufferAllowance = EchoReceiveAllocator.defaultCapacity

    private let limitValue: ManagedAtomic<Int>
    private let total = ManagedAtomic<Int>(0)
    /// The most `total` has been: what the budget let peers hold at worst.
    private let peakValue = ManagedAtomic<Int>(0)
    /// Whether reads are paused: set when the total goes over the limit, cleared when it is back under.
    private let overFlag = ManagedAtomic<Bool>(false)
    private let state = NIOLockedValueBox(State())
    private let logger: Logger
    /// For the summary and trim timers; nil in unit tests (no timers, lines logged at once).
    private let timerLoop: (any EventLoop)?

    public init(limit: Int = Configuration.defaultMemoryBudget, logger: Logger, timerLoop: (any EventLoop)? = nil) {
        self.limitValue = ManagedAtomic(limit)
        self.logger = logger
        self.timerLoop = timerLoop
    }

    public var limit: Int {
        get { limitValue.load(ordering: .relaxed) }
        set { limitValue.store(newValue, ordering: .relaxed) }
    }

    /// Bytes held now, by all accounts.
    public var held: Int { total.load(ordering: .relaxed) }
    /// The most held at once since the start.
    public var peak: Int { peakValue.load(ordering: .relaxed) }

    var isOver: Bool { overFlag.load(ordering: .relaxed) }

    func open(channel: Channel, stats: ListenerStats) -> Account {
        let account = Account(channel: channel, stats: stats)
        state.withLockedValue { $0.accounts[ObjectIdentifier(account)] = account }
        return account
    }

    /// Adds `bytes` to the account; over the limit, closes the largest holders.
    func charge(_ account: Account, _ bytes: Int) {
        guard bytes > 0 else { return }
        account.held.wrappingIncrement(by: bytes, ordering: .relaxed)
        let now = total.wrappingIncrementThenLoad(by: bytes, ordering: .relaxed)
        if now > limit {
            // Only over the limit: below it the peak is not news, and the normal path stays one atomic add.
            var seen = peakValue.load(ordering: .relaxed)
            while now > seen {
                let (exchanged, original) = peakValue.compareExchange(expected: seen, desired: now, ordering: .relaxed)
                if exchanged { break }
                seen = original
            }
            enforce(charging: account)
        }
    }

    /// Releases everything the account holds and forgets it.
    func settle(_ account: Account) {
        let bytes = account.held.exchange(0, ordering: .relaxed)
        let now = total.wrappingDecrementThenLoad(by: bytes, ordering: .relaxed)
        var resume: [Channel] = []
        var trim = false
        state.withLockedValue { s in
            s.accounts[ObjectIdentifier(account)] = nil
            s.releasedSinceTrim += bytes
            if now <= limit, overFlag.load(ordering: .relaxed) {
                overFlag.store(false, ordering: .relaxed)
                resume = Array(s.paused.values)
                s.paused.removeAll()
            }
            if s.releasedSinceTrim >= Self.trimThreshold, !s.trimScheduled {
                s.trimScheduled = true
                s.releasedSinceTrim = 0
                trim = true
            }
        }
        for channel in resume {
            channel.pipeline.fireUserInboundEventTriggered(MemoryBudgetResumeEvent())
        }
        if trim { scheduleTrim() }
    }

    /// Registers a connection that wants to read while the daemon is over budget; it gets a
    /// `MemoryBudgetResumeEvent` once the budget is met again. False: no longer over, read now.
    func pause(_ channel: Channel) -> Bool {
        state.withLockedValue { s in
            guard overFlag.load(ordering: .relaxed) else { return false }
            s.paused[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func unpause(_ channel: Channel) {
        state.withLockedValue { _ = $0.paused.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Over the limit: picks the victims and closes them. What a victim holds counts until it is
    /// really closed (it settles then): counting it as gone at once let everyone else fill its
    /// place while it was still allocated (a 64 MiB budget peaked at +106 MiB). So a victim on
    /// the loop we run on is closed at once rather than after every other ready connection of
    /// this loop turn has read, and a victim queues nothing more (`TCPEchoHandler`).
    private func enforce(charging: Account) {
        let limit = self.limit
        var victims: [(Account, Int)] = []
        var summary: (closed: Int, bytes: Int, largest: Int, suppressed: Int)?
        var scheduleFlush = false
        state.withLockedValue { s in
            let now = total.load(ordering: .relaxed)
            guard now > limit else { return }
            overFlag.store(true, ordering: .relaxed)
            let candidates = s.accounts.values.filter { !$0.isClosing }
            let holdings = candidates.map { $0.held.load(ordering: .relaxed) }
            let picked = MemoryBudgetRule.victims(holdings: holdings, total: now, target: MemoryBudgetRule.target(limit: limit))
            victims = picked.map { (candidates[$0], holdings[$0]) }
            guard !victims.isEmpty else { return }
            for (a, _) in victims { a.closing.store(true, ordering: .relaxed) }
            s.unloggedClosed += victims.count
            s.unloggedBytes += victims.reduce(0) { $0 + $1.1 }
            if let suppressed = s.throttle.admit(now: .now()) {
                summary = (s.unloggedClosed, s.unloggedBytes, victims[0].1, suppressed)
                s.unloggedClosed = 0
                s.unloggedBytes = 0
            } else if !s.flushScheduled {
                s.flushScheduled = true
                scheduleFlush = true
            }
        }
        for (account, _) in victims {
            account.stats.add(.closedMemoryBudget)
            let channel = account.channel
            if account !== charging, channel.eventLoop.inEventLoop {
                channel.close(promise: nil)
            } else {
                // Not from inside the charging handler's own channelRead, nor across loops: its
                // loop closes it on its next turn.
                channel.eventLoop.execute { channel.close(promise: nil) }
            }
        }
        if let summary {
            logger.warning(
                "Memory budget exceeded (memoryBudget \(limit) bytes held for peers that do not read): closed \(summary.closed) connection\(summary.closed == 1 ? "" : "s") holding the most (\(summary.bytes) bytes, the largest \(summary.largest)); reads pause until the daemon is back under budget",
                metadata: ["event": "memory-budget", "count": "\(summary.closed)"]
            )
        }
        if scheduleFlush, let loop = timerLoop {
            loop.scheduleTask(in: Self.summaryWindow) { self.flush() }
        }
    }

    private func flush() {
        let pending = state.withLockedValue { s -> (Int, Int) in
            defer {
                s.unloggedClosed = 0
                s.unloggedBytes = 0
                s.flushScheduled = false
            }
            return (s.unloggedClosed, s.unloggedBytes)
        }
        guard pending.0 > 0 else { return }
        logger.warning(
            "Memory budget: \(pending.0) more connection\(pending.0 == 1 ? "" : "s") closed in the last \(Self.summaryWindow.nanoseconds / 1_000_000_000) s (\(pending.1) bytes; memoryBudget \(limit) bytes)",
            metadata: ["event": "memory-budget", "count": "\(pending.0)"]
        )
    }

    private func scheduleTrim() {
        guard let loop = timerLoop else {
            trimNow()
            return
        }
        // Let the closing connections free their buffers first; this also spaces trims out.
        loop.scheduleTask(in: .seconds(1)) { self.trimNow() }
    }

    private func trimNow() {
        state.withLockedValue { $0.trimScheduled = false }
        HeapTrimmer.trim(logger: logger)
    }
}

extension MemoryBudget: KindShared {
    /// `memoryBudget` is a daemon-wide key; this budget is what the tcp-echo connections share.
    func configure(_ configuration: Configuration) {
        limit = configuration.memoryBudget
    }

    var statistics: [String] {
        let most = peak > limit ? "; at most \(peak) since the start, before the budget closed connections" : ""
        return ["Memory held for peers that do not read: \(held) of memoryBudget \(limit) bytes\(most)"]
    }
}
