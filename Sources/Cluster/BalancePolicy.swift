/// How the primary picks a worker for each connection in round-robin mode (`--balance`).
public enum BalancePolicy: String, CaseIterable, Sendable {
    /// Rotation that skips a worker whose load is clearly above the lightest one's, or that
    /// has too many hand-offs it has not acknowledged (a stalled or stopped worker), and
    /// prefers workers that are not busy now (in a loop turn that has run for a while: a
    /// long request).
    case loadAware = "load-aware"
    /// Strict rotation.
    case roundRobin = "round-robin"
    /// The worker with the fewest open plus pending connections (rotation breaks ties).
    case leastConnections = "least-connections"
    /// Power of two choices: the lighter of two workers picked at random.
    case p2c
    /// Sticky by client address: the same address goes to the same worker while the set
    /// of workers stays the same.
    case ipHash = "ip-hash"
}

/// One worker as a policy sees it.
public struct WorkerLoad: Equatable, Sendable {
    /// Listening and alive: may receive connections.
    public var eligible: Bool
    /// Open connections (from the shared board).
    public var active: Int
    /// Requests received and not yet answered (from the shared board).
    public var inflight: Int
    /// Connections handed over (or queued to be) and not yet acknowledged.
    public var unacknowledged: Int
    /// In a loop turn that has lasted `Primary.busyTurnMicroseconds` or more: running a long
    /// request now, so a connection handed to it waits for that request's end. The board's
    /// counts say nothing of this: a worker publishes them when a turn ends.
    public var busy: Bool

    public init(eligible: Bool = true, active: Int = 0, inflight: Int = 0, unacknowledged: Int = 0, busy: Bool = false) {
        self.eligible = eligible
        self.active = active
        self.inflight = inflight
        self.unacknowledged = unacknowledged
        self.busy = busy
    }

    /// The load `load-aware` and `p2c` compare.
    @inline(__always) public var load: Int { active + inflight + unacknowledged }
}

/// The decision procedure: pure, so each policy is tested on made-up loads.
public struct Balancer: Sendable {
    public let policy: BalancePolicy
    /// A worker with this many unacknowledged hand-offs is skipped by `load-aware`.
    public var maxUnacknowledged: Int
    var cursor = 0
    var random: UInt64

    public init(policy: BalancePolicy, maxUnacknowledged: Int = 64, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) {
        self.policy = policy
        self.maxUnacknowledged = maxUnacknowledged
        self.random = seed | 1
    }

    /// "Clearly above": more than max(2, 25%) over the lightest eligible worker.
    @inline(__always)
    public static func threshold(minimum: Int) -> Int { minimum + max(2, minimum / 4) }

    /// The index of the worker to use, or nil when no worker is eligible.
    /// `clientHash` is used by `ip-hash` only.
    public mutating func choose(_ workers: UnsafeBufferPointer<WorkerLoad>, clientHash: UInt64 = 0) -> Int? {
        let n = workers.count
        guard n > 0 else { return nil }
        switch policy {
        case .roundRobin:
            return rotate(workers) { _ in true }
        case .loadAware:
            // Among the workers that are not busy now, when there are any; else among all.
            let limitUnacked = maxUnacknowledged
            var minimum = Int.max
            var idleMinimum = Int.max
            for w in workers where w.eligible && w.unacknowledged < limitUnacked {
                minimum = min(minimum, w.load)
                if !w.busy { idleMinimum = min(idleMinimum, w.load) }
            }
            if minimum == Int.max {
                // Every eligible worker is backed up: still never drop, take the lightest.
                return lightest(workers)
            }
            let busyToo = idleMinimum == Int.max
            let limit = Self.threshold(minimum: busyToo ? minimum : idleMinimum)
            return rotate(workers) { (busyToo || !$0.busy) && $0.load <= limit && $0.unacknowledged < limitUnacked }
        case .leastConnections:
            var best: Int? = nil
            for k in 0..<n {
                let i = (cursor + k) % n
                let w = workers[i]
                guard w.eligible else { continue }
                if best == nil || w.active + w.unacknowledged < workers[best!].active + workers[best!].unacknowledged { best = i }
            }
            if let best { cursor = (best + 1) % n }
            return best
        case .p2c:
            var eligibleCount = 0
            for w in workers where w.eligible { eligibleCount += 1 }
            guard eligibleCount > 0 else { return nil }
            if eligibleCount == 1 { return workers.firstIndex { $0.eligible } }
            let a = nthEligible(workers, Int(next() % UInt64(eligibleCount)))
            var bIndex = Int(next() % UInt64(eligibleCount - 1))
            let aRank = rank(workers, a)
            if bIndex >= aRank { bIndex += 1 }
            let b = nthEligible(workers, bIndex)
            return workers[b].load < workers[a].load ? b : a
        case .ipHash:
            var eligibleCount = 0
            for w in workers where w.eligible { eligibleCount += 1 }
            guard eligibleCount > 0 else { return nil }
            return nthEligible(workers, Int(clientHash % UInt64(eligibleCount)))
        }
    }

    /// The next eligible worker from the cursor that passes `accept`; else the lightest eligible.
    @inline(__always)
    mutating func rotate(_ workers: UnsafeBufferPointer<WorkerLoad>, _ accept: (WorkerLoad) -> Bool) -> Int? {
        let n = workers.count
        for k in 0..<n {
            let i = (cursor + k) % n
            if workers[i].eligible && accept(workers[i]) {
                cursor = (i + 1) % n
                return i
            }
        }
        return lightest(workers)
    }

    func lightest(_ workers: UnsafeBufferPointer<WorkerLoad>) -> Int? {
        var best: Int? = nil
        for i in 0..<workers.count where workers[i].eligible {
            if best == nil || workers[i].load < workers[best!].load { best = i }
        }
        return best
    }

    func nthEligible(_ workers: UnsafeBufferPointer<WorkerLoad>, _ n: Int) -> Int {
        var seen = 0
        for i in 0..<workers.count where workers[i].eligible {
            if seen == n { return i }
            seen += 1
        }
        return 0
    }

    func rank(_ workers: UnsafeBufferPointer<WorkerLoad>, _ index: Int) -> Int {
        var r = 0
        for i in 0..<index where workers[i].eligible { r += 1 }
        return r
    }

    /// xorshift64*: cheap, good enough to pick two workers.
    mutating func next() -> UInt64 {
        random ^= random >> 12
        random ^= random << 25
        random ^= random >> 27
        return random &* 0x2545_F491_4F6C_DD1D
    }

    /// FNV-1a over an address's bytes, then mixed (splitmix64's finalizer), for `ip-hash`.
    /// FNV-1a alone leaves its low bit the parity of the bytes' low bits, and ip-hash takes
    /// the hash modulo the worker count: with two workers, 203.0.1.1 and 203.0.2.2 (and
    /// every address whose bytes' low bits cancel alike) always shared one worker.
    public static func hash(address: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in address {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }
}
