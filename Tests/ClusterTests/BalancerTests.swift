import Glibc
import Testing
@testable import Cluster

// MARK: - Helpers

extension Balancer {
    /// One decision over an array of made-up loads.
    mutating func pick(_ loads: [WorkerLoad], clientHash: UInt64 = 0) -> Int? {
        loads.withUnsafeBufferPointer { choose($0, clientHash: clientHash) }
    }

    /// `count` decisions over the same loads.
    mutating func picks(_ loads: [WorkerLoad], count: Int, clientHash: UInt64 = 0) -> [Int?] {
        (0..<count).map { _ in pick(loads, clientHash: clientHash) }
    }
}

/// How many times each index was chosen (nil choices are not counted).
func tally(_ choices: [Int?], workers: Int) -> [Int] {
    var counts = Array(repeating: 0, count: workers)
    for case let i? in choices { counts[i] += 1 }
    return counts
}

/// SplitMix64: a seeded generator so the randomised tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func equalWorkers(_ n: Int, active: Int = 0) -> [WorkerLoad] {
    Array(repeating: WorkerLoad(active: active), count: n)
}

let ineligible = WorkerLoad(eligible: false)

// MARK: - WorkerLoad and BalancePolicy

@Suite("WorkerLoad and BalancePolicy")
struct WorkerLoadTests {
    @Test func loadIsActivePlusInflightPlusUnacknowledged() {
        #expect(WorkerLoad().load == 0)
        #expect(WorkerLoad(active: 3, inflight: 5, unacknowledged: 7).load == 15)
        #expect(WorkerLoad(eligible: false, active: 1).load == 1)
    }

    @Test func defaultWorkerIsEligibleAndIdle() {
        let w = WorkerLoad()
        #expect(w.eligible)
        #expect(w.active == 0 && w.inflight == 0 && w.unacknowledged == 0)
    }

    @Test func policyNamesAreTheCommandLineSpellings() {
        #expect(BalancePolicy.allCases.map(\.rawValue) == ["load-aware", "round-robin", "least-connections", "p2c", "ip-hash"])
        for p in BalancePolicy.allCases { #expect(BalancePolicy(rawValue: p.rawValue) == p) }
        #expect(BalancePolicy(rawValue: "random") == nil)
        #expect(BalancePolicy(rawValue: "Round-Robin") == nil)
    }

    @Test func defaultMaxUnacknowledgedIs64() {
        #expect(Balancer(policy: .loadAware).maxUnacknowledged == 64)
        #expect(Balancer(policy: .p2c, maxUnacknowledged: 3).maxUnacknowledged == 3)
    }
}

// MARK: - Rules common to every policy

@Suite("Balancer: every policy")
struct BalancerCommonTests {
    @Test(arguments: BalancePolicy.allCases)
    func noWorkersGivesNil(_ policy: BalancePolicy) {
        var b = Balancer(policy: policy)
        #expect(b.pick([]) == nil)
    }

    @Test(arguments: BalancePolicy.allCases)
    func noEligibleWorkerGivesNil(_ policy: BalancePolicy) {
        var b = Balancer(policy: policy)
        let loads = [WorkerLoad(eligible: false), WorkerLoad(eligible: false, active: 5), WorkerLoad(eligible: false, unacknowledged: 100)]
        for hash in 0..<UInt64(10) { #expect(b.pick(loads, clientHash: hash) == nil) }
    }

    @Test(arguments: BalancePolicy.allCases)
    func alwaysPicksAnEligibleWorkerWhenOneExists(_ policy: BalancePolicy) {
        var rng = SeededGenerator(seed: 42)
        var b = Balancer(policy: policy, maxUnacknowledged: 8)
        for _ in 0..<3000 {
            let n = Int.random(in: 1...9, using: &rng)
            var loads = (0..<n).map { _ in
                WorkerLoad(eligible: Bool.random(using: &rng),
                           active: Int.random(in: 0...50, using: &rng),
                           inflight: Int.random(in: 0...50, using: &rng),
                           unacknowledged: Int.random(in: 0...20, using: &rng))
            }
            if Bool.random(using: &rng) { loads[Int.random(in: 0..<n, using: &rng)].eligible = true }
            let anyEligible = loads.contains { $0.eligible }
            let choice = b.pick(loads, clientHash: rng.next())
            if anyEligible {
                guard let choice else {
                    Issue.record("\(policy) returned nil for \(loads)")
                    return
                }
                #expect(loads.indices.contains(choice))
                #expect(loads[choice].eligible, "\(policy) chose ineligible \(choice) in \(loads)")
            } else {
                #expect(choice == nil)
            }
        }
    }

    @Test(arguments: BalancePolicy.allCases)
    func singleEligibleWorkerIsAlwaysChosen(_ policy: BalancePolicy) {
        var b = Balancer(policy: policy, maxUnacknowledged: 4)
        // The only eligible worker is heavily loaded and backed up: it is still chosen.
        let loads = [ineligible, WorkerLoad(active: 1000, inflight: 10, unacknowledged: 99), ineligible]
        for hash in 0..<UInt64(200) { #expect(b.pick(loads, clientHash: hash) == 1) }
    }
}

// MARK: - round-robin

@Suite("Balancer: round-robin")
struct RoundRobinTests {
    @Test func rotatesStrictlyInOrderAndWraps() {
        var b = Balancer(policy: .roundRobin)
        #expect(b.picks(equalWorkers(3), count: 7) == [0, 1, 2, 0, 1, 2, 0])
    }

    @Test func skipsIneligibleWorkers() {
        var b = Balancer(policy: .roundRobin)
        let loads = [WorkerLoad(), ineligible, WorkerLoad(), WorkerLoad()]
        #expect(b.picks(loads, count: 7) == [0, 2, 3, 0, 2, 3, 0])
    }

    @Test func skipsIneligibleWorkerAtTheEndWhenWrapping() {
        var b = Balancer(policy: .roundRobin)
        let loads = [WorkerLoad(), WorkerLoad(), ineligible]
        #expect(b.picks(loads, count: 5) == [0, 1, 0, 1, 0])
    }

    @Test func ignoresLoad() {
        var b = Balancer(policy: .roundRobin)
        let loads = [WorkerLoad(), WorkerLoad(active: 1000, inflight: 1000, unacknowledged: 1000), WorkerLoad()]
        #expect(b.picks(loads, count: 6) == [0, 1, 2, 0, 1, 2])
    }

    @Test func continuesFromWhereItWasWhenEligibilityChanges() {
        var b = Balancer(policy: .roundRobin)
        var loads = equalWorkers(3)
        #expect(b.pick(loads) == 0)
        loads[1].eligible = false
        #expect(b.pick(loads) == 2)
        loads[1].eligible = true
        #expect(b.pick(loads) == 0)
        #expect(b.pick(loads) == 1)
    }

    @Test func threeHundredChoicesOverThreeWorkersGiveExactlyAHundredEach() {
        var b = Balancer(policy: .roundRobin)
        #expect(tally(b.picks(equalWorkers(3), count: 300), workers: 3) == [100, 100, 100])
    }
}

// MARK: - load-aware

@Suite("Balancer: load-aware")
struct LoadAwareTests {
    @Test func thresholdIsMinimumPlusTheLargerOfTwoAndAQuarter() {
        #expect(Balancer.threshold(minimum: 0) == 2)
        #expect(Balancer.threshold(minimum: 1) == 3)
        #expect(Balancer.threshold(minimum: 8) == 10)
        #expect(Balancer.threshold(minimum: 11) == 13)
        #expect(Balancer.threshold(minimum: 12) == 15)
        #expect(Balancer.threshold(minimum: 100) == 125)
        #expect(Balancer.threshold(minimum: 1000) == 1250)
    }

    @Test(arguments: [2, 3, 4, 7])
    func equalLoadsBehaveAsRotation(_ n: Int) {
        var b = Balancer(policy: .loadAware)
        let loads = equalWorkers(n, active: 5)
        let choices = b.picks(loads, count: n * 100)
        // A rotation: each window of n consecutive choices visits every worker once.
        #expect(Array(choices.prefix(n)) == (0..<n).map { Optional($0) })
        let counts = tally(choices, workers: n)
        #expect(counts.max()! - counts.min()! <= 2, "\(counts)")
        #expect(counts.reduce(0, +) == n * 100)
    }

    @Test func skipsAWorkerClearlyAboveTheLightest() {
        var b = Balancer(policy: .loadAware)
        let loads = [WorkerLoad(), WorkerLoad(active: 10), WorkerLoad()]
        let choices = b.picks(loads, count: 100)
        #expect(!choices.contains(1))
        #expect(tally(choices, workers: 3) == [50, 0, 50])
    }

    @Test func acceptsAWorkerExactlyAtTheThreshold() {
        var b = Balancer(policy: .loadAware)
        // Lightest 8 → threshold 10: load 10 is accepted, load 11 is not.
        let loads = [WorkerLoad(active: 8), WorkerLoad(active: 4, inflight: 6), WorkerLoad(active: 11)]
        let counts = tally(b.picks(loads, count: 60), workers: 3)
        #expect(counts == [30, 30, 0])
    }

    @Test func thresholdIsAQuarterAboveTheLightestForLargeLoads() {
        var b = Balancer(policy: .loadAware)
        // Lightest 100 → threshold 125.
        let loads = [WorkerLoad(active: 100), WorkerLoad(active: 125), WorkerLoad(active: 126)]
        let counts = tally(b.picks(loads, count: 100), workers: 3)
        #expect(counts == [50, 50, 0])
    }

    @Test func skipsAWorkerWithTooManyUnacknowledgedEvenIfItsLoadIsLow() {
        var b = Balancer(policy: .loadAware, maxUnacknowledged: 4)
        let loads = [WorkerLoad(active: 10), WorkerLoad(active: 10), WorkerLoad(unacknowledged: 4)]
        #expect(loads[2].load < loads[0].load)
        let choices = b.picks(loads, count: 100)
        #expect(!choices.contains(2))
        #expect(tally(choices, workers: 3) == [50, 50, 0])
    }

    @Test func aWorkerJustUnderTheUnacknowledgedLimitIsStillUsed() {
        var b = Balancer(policy: .loadAware, maxUnacknowledged: 4)
        let loads = [WorkerLoad(active: 3), WorkerLoad(unacknowledged: 3)]
        #expect(tally(b.picks(loads, count: 10), workers: 2) == [5, 5])
    }

    @Test func aBusyWorkerIsSkippedWhileAnotherIsNotEvenWhenItIsLighter() {
        var b = Balancer(policy: .loadAware)
        // Worker 0 is in a long request: its published load is low (it publishes when a
        // turn ends), but a connection handed to it would wait for the request.
        let loads = [WorkerLoad(active: 1, busy: true), WorkerLoad(active: 6), WorkerLoad(active: 7)]
        let counts = tally(b.picks(loads, count: 100), workers: 3)
        #expect(counts == [0, 50, 50])
    }

    @Test func theThresholdIsTakenAmongTheWorkersThatAreNotBusy() {
        var b = Balancer(policy: .loadAware)
        // Lightest idle 8 → threshold 10: the idle 11 is skipped, the busy 0 too.
        let loads = [WorkerLoad(busy: true), WorkerLoad(active: 8), WorkerLoad(active: 11), WorkerLoad(active: 10)]
        #expect(tally(b.picks(loads, count: 60), workers: 4) == [0, 30, 0, 30])
    }

    @Test func whenEveryWorkerIsBusyTheUsualRulesApply() {
        var b = Balancer(policy: .loadAware)
        let loads = [WorkerLoad(busy: true), WorkerLoad(active: 10, busy: true), WorkerLoad(busy: true)]
        #expect(tally(b.picks(loads, count: 100), workers: 3) == [50, 0, 50])
    }

    @Test func aBusyWorkerBackedUpWithHandoffsIsNotAnIdleChoice() {
        var b = Balancer(policy: .loadAware, maxUnacknowledged: 4)
        // The only idle worker has too many unacknowledged: the busy ones are used.
        let loads = [WorkerLoad(unacknowledged: 4), WorkerLoad(active: 1, busy: true), WorkerLoad(active: 1, busy: true)]
        #expect(tally(b.picks(loads, count: 10), workers: 3) == [0, 5, 5])
    }

    @Test func otherPoliciesIgnoreBusy() {
        var b = Balancer(policy: .roundRobin)
        let loads = [WorkerLoad(busy: true), WorkerLoad()]
        #expect(tally(b.picks(loads, count: 10), workers: 2) == [5, 5])
    }

    @Test func whenEveryEligibleWorkerIsBackedUpTheLightestIsChosen() {
        var b = Balancer(policy: .loadAware, maxUnacknowledged: 64)
        let loads = [WorkerLoad(unacknowledged: 70), WorkerLoad(unacknowledged: 65), ineligible, WorkerLoad(active: 3, unacknowledged: 64)]
        for _ in 0..<20 { #expect(b.pick(loads) == 1) }
    }

    @Test func backedUpWorkersAreNeverDroppedInALoop() {
        // Every choice adds an unacknowledged hand-off and none is ever acknowledged:
        // the choice is never nil, and the spread stays even past the limit.
        var b = Balancer(policy: .loadAware, maxUnacknowledged: 8)
        var loads = equalWorkers(3)
        for step in 0..<90 {
            guard let i = b.pick(loads) else {
                Issue.record("nil at step \(step)")
                return
            }
            loads[i].unacknowledged += 1
            let u = loads.map(\.unacknowledged)
            #expect(u.max()! - u.min()! <= 1, "step \(step): \(u)")
        }
        #expect(loads.map(\.unacknowledged) == [30, 30, 30])
    }

    @Test func incrementingUnacknowledgedKeepsWorkersUnderTheLimitWhileAnyIs() {
        var b = Balancer(policy: .loadAware, maxUnacknowledged: 5)
        // Worker 0 starts heavier, so the other two take the first connections.
        var loads = [WorkerLoad(active: 4), WorkerLoad(), WorkerLoad()]
        for _ in 0..<15 {
            let underLimit = loads.indices.filter { loads[$0].unacknowledged < 5 }
            guard let i = b.pick(loads) else {
                Issue.record("nil")
                return
            }
            if !underLimit.isEmpty { #expect(underLimit.contains(i)) }
            loads[i].unacknowledged += 1
        }
        #expect(loads.allSatisfy { $0.unacknowledged <= 5 })
    }

    @Test func aStoppedWorkerStopsBeingPickedOnceOverTheLimit() {
        // Workers 0 and 1 carry more open connections, so the stopped worker 2 is the
        // lightest by load and is preferred until its unacknowledged count reaches the limit.
        let limit = 5
        var b = Balancer(policy: .loadAware, maxUnacknowledged: limit)
        var loads = [WorkerLoad(active: 100), WorkerLoad(active: 100), WorkerLoad()]
        var stoppedPicks = 0
        var othersPicks = 0
        for round in 0..<100 {
            for _ in 0..<3 {
                guard let i = b.pick(loads) else {
                    Issue.record("nil in round \(round)")
                    return
                }
                if i == 2 {
                    #expect(loads[2].unacknowledged < limit, "stopped worker picked at \(loads[2].unacknowledged) unacknowledged")
                    stoppedPicks += 1
                } else {
                    othersPicks += 1
                }
                loads[i].unacknowledged += 1
            }
            // The live workers acknowledge everything each round; worker 2 never does.
            loads[0].unacknowledged = 0
            loads[1].unacknowledged = 0
        }
        #expect(stoppedPicks == limit)
        #expect(loads[2].unacknowledged == limit)
        #expect(othersPicks == 300 - limit)
    }

    @Test func aStoppedWorkerAmongEqualWorkersIsPickedAtMostLimitTimes() {
        let limit = 64
        var b = Balancer(policy: .loadAware, maxUnacknowledged: limit)
        var loads = equalWorkers(4, active: 200)
        var stoppedPicks = 0
        for _ in 0..<1000 {
            for _ in 0..<4 {
                let i = b.pick(loads)!
                if i == 3 { stoppedPicks += 1 }
                loads[i].unacknowledged += 1
            }
            for k in 0..<3 { loads[k].unacknowledged = 0 }
        }
        #expect(stoppedPicks <= limit)
        #expect(loads[3].unacknowledged <= limit)
        // The rest was spread over the three live workers.
        #expect(stoppedPicks > 0)
    }
}

// MARK: - least-connections

@Suite("Balancer: least-connections")
struct LeastConnectionsTests {
    @Test func picksTheFewestActivePlusUnacknowledged() {
        var b = Balancer(policy: .leastConnections)
        #expect(b.picks([WorkerLoad(active: 5), WorkerLoad(active: 2), WorkerLoad(active: 7)], count: 5) == [1, 1, 1, 1, 1])
        // 1 + 3 = 4 against 3 + 0 = 3.
        #expect(b.pick([WorkerLoad(active: 1, unacknowledged: 3), WorkerLoad(active: 3)]) == 1)
        #expect(b.pick([WorkerLoad(unacknowledged: 2), WorkerLoad(unacknowledged: 9), WorkerLoad(active: 1, unacknowledged: 2)]) == 0)
    }

    @Test func inflightRequestsDoNotCountAsConnections() {
        var b = Balancer(policy: .leastConnections)
        #expect(b.pick([WorkerLoad(active: 1, inflight: 50), WorkerLoad(active: 2)]) == 0)
    }

    @Test func twoEqualWorkersAlternate() {
        var b = Balancer(policy: .leastConnections)
        let loads = equalWorkers(2, active: 4)
        #expect(b.picks(loads, count: 6) == [0, 1, 0, 1, 0, 1])
    }

    @Test func tiesAmongTheLightestRotateAndSkipTheHeavier() {
        var b = Balancer(policy: .leastConnections)
        let loads = [WorkerLoad(active: 1), WorkerLoad(active: 5), WorkerLoad(active: 1)]
        #expect(b.picks(loads, count: 6) == [0, 2, 0, 2, 0, 2])
    }

    @Test func threeEqualWorkersRotate() {
        var b = Balancer(policy: .leastConnections)
        let choices = b.picks(equalWorkers(3), count: 300)
        #expect(Array(choices.prefix(6)) == [0, 1, 2, 0, 1, 2])
        #expect(tally(choices, workers: 3) == [100, 100, 100])
    }

    @Test func skipsAnIneligibleWorkerEvenIfLighter() {
        var b = Balancer(policy: .leastConnections)
        let loads = [WorkerLoad(eligible: false), WorkerLoad(active: 5), WorkerLoad(active: 6)]
        #expect(b.picks(loads, count: 4) == [1, 1, 1, 1])
    }

    @Test func followsTheLoadAsConnectionsAreAdded() {
        var b = Balancer(policy: .leastConnections)
        var loads = [WorkerLoad(active: 3), WorkerLoad(), WorkerLoad(active: 1)]
        for _ in 0..<30 {
            let i = b.pick(loads)!
            let counts = loads.map { $0.active + $0.unacknowledged }
            #expect(counts[i] == counts.min()!)
            loads[i].unacknowledged += 1
        }
        let counts = loads.map { $0.active + $0.unacknowledged }
        #expect(counts.max()! - counts.min()! <= 1)
    }
}

// MARK: - p2c

@Suite("Balancer: p2c")
struct PowerOfTwoChoicesTests {
    @Test func neverPicksAnIneligibleWorker() {
        var rng = SeededGenerator(seed: 7)
        var b = Balancer(policy: .p2c)
        for _ in 0..<2000 {
            var loads = (0..<6).map { _ in WorkerLoad(eligible: Bool.random(using: &rng), active: Int.random(in: 0...10, using: &rng)) }
            loads[Int.random(in: 0..<6, using: &rng)].eligible = true
            let i = b.pick(loads)!
            #expect(loads[i].eligible)
        }
        // Ineligible workers that are much lighter are not taken either.
        let loads = [WorkerLoad(eligible: false), WorkerLoad(active: 50), WorkerLoad(eligible: false), WorkerLoad(active: 60)]
        for _ in 0..<500 { #expect([1, 3].contains(b.pick(loads)!)) }
    }

    @Test(arguments: [UInt64(1), 2, 0xDEAD_BEEF, 0x9E37_79B9_7F4A_7C15])
    func withTwoWorkersTheLighterAlwaysWins(_ seed: UInt64) {
        var b = Balancer(policy: .p2c, seed: seed)
        #expect(tally(b.picks([WorkerLoad(), WorkerLoad(active: 100)], count: 1000), workers: 2) == [1000, 0])
        #expect(tally(b.picks([WorkerLoad(inflight: 100), WorkerLoad(unacknowledged: 1)], count: 1000), workers: 2) == [0, 1000])
    }

    @Test func theHeaviestOfThreeIsNeverChosen() {
        var b = Balancer(policy: .p2c)
        let counts = tally(b.picks([WorkerLoad(), WorkerLoad(active: 50), WorkerLoad(active: 100)], count: 3000), workers: 3)
        #expect(counts[2] == 0)
        // The lightest wins every pair it is in: two pairs out of three.
        #expect(counts[0] > 1700 && counts[0] < 2300, "\(counts)")
        #expect(counts[1] > 700 && counts[1] < 1300, "\(counts)")
    }

    @Test func withOneEligibleWorkerAlwaysPicksIt() {
        var b = Balancer(policy: .p2c)
        let loads = [ineligible, ineligible, WorkerLoad(active: 9), ineligible]
        #expect(b.picks(loads, count: 100).allSatisfy { $0 == 2 })
    }

    @Test func threeEqualWorkersShareTheLoad() {
        var b = Balancer(policy: .p2c)
        let counts = tally(b.picks(equalWorkers(3), count: 3000), workers: 3)
        #expect(counts.reduce(0, +) == 3000)
        #expect(counts.allSatisfy { $0 >= 600 }, "\(counts)")
    }

    @Test func equalWorkersAmongIneligibleOnesShareTheLoad() {
        var b = Balancer(policy: .p2c)
        let loads = [WorkerLoad(), ineligible, WorkerLoad(), ineligible, WorkerLoad()]
        let counts = tally(b.picks(loads, count: 3000), workers: 5)
        #expect(counts[1] == 0 && counts[3] == 0)
        #expect([counts[0], counts[2], counts[4]].allSatisfy { $0 >= 600 }, "\(counts)")
    }

    @Test func theSameSeedGivesTheSameSequence() {
        var a = Balancer(policy: .p2c, seed: 12345)
        var b = Balancer(policy: .p2c, seed: 12345)
        var c = Balancer(policy: .p2c, seed: 54321)
        let loads = equalWorkers(5)
        let sa = a.picks(loads, count: 200)
        #expect(sa == b.picks(loads, count: 200))
        #expect(sa != c.picks(loads, count: 200))
    }

    @Test func aZeroSeedStillProducesChoices() {
        // xorshift would be stuck at zero; the seed is forced odd.
        var b = Balancer(policy: .p2c, seed: 0)
        let counts = tally(b.picks(equalWorkers(3), count: 3000), workers: 3)
        #expect(counts.allSatisfy { $0 >= 600 }, "\(counts)")
    }
}

// MARK: - ip-hash

@Suite("Balancer: ip-hash")
struct IPHashTests {
    static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { Balancer.hash(address: $0) }
    }

    @Test func theSameClientHashAlwaysMapsToTheSameWorker() {
        var b = Balancer(policy: .ipHash)
        let loads = equalWorkers(4)
        let hashes: [UInt64] = (0..<50).map { Self.hash([10, 0, 0, UInt8($0)]) }
        let first = hashes.map { b.pick(loads, clientHash: $0)! }
        // Interleaved with other clients and repeated: the mapping holds.
        for _ in 0..<5 {
            for (k, h) in hashes.enumerated().reversed() {
                #expect(b.pick(loads, clientHash: h) == first[k])
                _ = b.pick(loads, clientHash: h &+ 1)
            }
        }
    }

    @Test func doesNotDependOnLoad() {
        var b = Balancer(policy: .ipHash)
        let h = Self.hash([192, 168, 1, 20])
        let a = b.pick(equalWorkers(3), clientHash: h)
        let loaded = [WorkerLoad(active: 100), WorkerLoad(active: 200, unacknowledged: 99), WorkerLoad(inflight: 300)]
        #expect(b.pick(loaded, clientHash: h) == a)
    }

    @Test func differentHashesSpreadOverWorkers() {
        var b = Balancer(policy: .ipHash)
        let loads = equalWorkers(3)
        #expect(tally((0..<UInt64(300)).map { b.pick(loads, clientHash: $0) }, workers: 3) == [100, 100, 100])
        // Hashes of real addresses spread too.
        let choices = (0..<600).map { k in b.pick(loads, clientHash: Self.hash([10, 1, UInt8(k / 256), UInt8(k % 256)])) }
        let counts = tally(choices, workers: 3)
        #expect(counts.allSatisfy { $0 >= 120 }, "\(counts)")
    }

    /// Addresses whose bytes' low bits cancel alike (203.0.k.k) went to one of two workers
    /// with FNV-1a unmixed: its low bit is their parity.
    @Test func addressesAlikeInTheirLowBitsStillSpreadOverTwoWorkers() {
        var b = Balancer(policy: .ipHash)
        let choices = (0..<64).map { k in b.pick(equalWorkers(2), clientHash: Self.hash([203, 0, UInt8(k), UInt8(k)])) }
        let counts = tally(choices, workers: 2)
        #expect(counts.allSatisfy { $0 >= 16 }, "\(counts)")
    }

    @Test func mapsOnlyToEligibleWorkers() {
        var b = Balancer(policy: .ipHash)
        let loads = [WorkerLoad(), ineligible, WorkerLoad()]
        let counts = tally((0..<UInt64(100)).map { b.pick(loads, clientHash: $0) }, workers: 3)
        #expect(counts == [50, 0, 50])
    }

    @Test func hashIsDeterministicAndDistinguishesAddresses() {
        let one = Self.hash([127, 0, 0, 1])
        #expect(one == Self.hash([127, 0, 0, 1]))
        #expect(one != Self.hash([127, 0, 0, 2]))
        #expect(one == Self.mixed(0x6c0b_1539_76ee_1fad))
        #expect(Self.hash([127, 0, 0, 2]) == Self.mixed(0x6c0b_1239_76ee_1a94))
        var v6 = [UInt8](repeating: 0, count: 16)
        v6[15] = 1
        #expect(Self.hash(v6) != one)
    }

    /// splitmix64's finalizer, written out from its published constants.
    static func mixed(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    @Test func hashIsFNV1a64Mixed() {
        // Reference values of 64-bit FNV-1a, then the finalizer.
        #expect(Self.hash([]) == Self.mixed(0xcbf2_9ce4_8422_2325))
        #expect(Self.hash(Array("a".utf8)) == Self.mixed(0xaf63_dc4c_8601_ec8c))
        #expect(Self.hash(Array("foobar".utf8)) == Self.mixed(0x8594_4171_f739_67e8))
    }
}
