@testable import Cluster
import Testing
import URing

func held(_ fd: Int32, at t: UInt64 = 0) -> HeldConnection { HeldConnection(file: Descriptor(process: fd), acceptedAt: t) }

@Suite("HandoffLedger")
struct HandoffLedgerTests {
    @Test func aConnectionIsPendingThenSendingThenAcknowledged() {
        var l = HandoffLedger()
        l.assign(held(10))
        l.assign(held(11))
        var fds: [Int32] = []
        l.startSending(max: 253, into: &fds)
        #expect(fds == [10, 11])
        #expect(l.isSending && l.pending.isEmpty)
        let r1 = l.sendCompleted(delivered: true, now: 5)
        #expect(r1.isEmpty)
        #expect(l.unacknowledgedSince == 5)
        var closing: [Descriptor] = []
        l.acknowledge(upTo: 1, now: 6, closing: &closing)
        #expect(closing.map(\.value) == [10])
        #expect(l.unacknowledgedSince == 6, "the next one's wait starts now")
        l.acknowledge(upTo: 2, now: 7, closing: &closing)
        #expect(closing.map(\.value) == [10, 11])
        #expect(l.outstanding == 0 && l.unacknowledgedSince == 0)
    }

    /// A delivered message's batch moves on without a copy: the sending buffer is the same
    /// allocation afterwards. (A copy of it, then emptying it, allocated a new buffer: one
    /// heap allocation per hand-off message in the primary.)
    @Test func aDeliveredBatchKeepsTheSendingBufferItWasIn() {
        var l = HandoffLedger()
        var fds: [Int32] = []
        l.assign(held(10))
        l.startSending(max: 253, into: &fds)
        _ = l.sendCompleted(delivered: true, now: 1)  // the buffer exists from here on
        l.assign(held(11))
        l.startSending(max: 253, into: &fds)
        let before = l.sending.withUnsafeBufferPointer { $0.baseAddress }
        _ = l.sendCompleted(delivered: true, now: 2)
        l.assign(held(12))
        l.startSending(max: 253, into: &fds)
        let after = l.sending.withUnsafeBufferPointer { $0.baseAddress }
        #expect(before != nil && before == after)
        #expect(l.outstanding == 3)
    }

    @Test func oneMessageAtATimeAndAtMostMaxDescriptors() {
        var l = HandoffLedger()
        for fd in 0..<10 { l.assign(held(Int32(fd))) }
        var fds: [Int32] = []
        l.startSending(max: 4, into: &fds)
        #expect(fds == [0, 1, 2, 3])
        l.startSending(max: 4, into: &fds)
        #expect(fds.isEmpty, "a hand-off is in flight")
        _ = l.sendCompleted(delivered: true, now: 0)
        l.startSending(max: 4, into: &fds)
        #expect(fds == [4, 5, 6, 7])
    }

    @Test func anUndeliveredMessageGivesItsConnectionsBack() {
        var l = HandoffLedger()
        l.assign(held(3, at: 42))
        var fds: [Int32] = []
        l.startSending(max: 253, into: &fds)
        let r2 = l.sendCompleted(delivered: false, now: 1)
        #expect(r2 == [held(3, at: 42)])
        #expect(l.outstanding == 0)
    }

    @Test func refusedConnectionsComeBackAndTheWorkerBacksOff() {
        var l = HandoffLedger()
        for fd in 20..<25 { l.assign(held(Int32(fd))) }
        var fds: [Int32] = []
        l.startSending(max: 253, into: &fds)
        _ = l.sendCompleted(delivered: true, now: 0)
        // Positions 3 and 4 (fds 23, 24) did not fit under the worker's descriptor limit.
        let back = l.refuse(position: 3, count: 2, now: 1_000)
        #expect(back.map(\.fd) == [23, 24])
        #expect(back.allSatisfy { $0.refusals == 1 })
        #expect(l.refusalsHandled == 1)
        #expect(l.isBackingOff(now: 1_000 + HandoffLedger.firstRefusalBackoffNanoseconds - 1))
        #expect(!l.isBackingOff(now: 1_000 + HandoffLedger.firstRefusalBackoffNanoseconds))
        // The worker's position passes the refused ones once the refusal is confirmed.
        var closing: [Descriptor] = []
        l.acknowledge(upTo: 5, now: 2_000, closing: &closing)
        #expect(closing.map(\.value) == [20, 21, 22], "refused ones are not closed here: they went elsewhere")
        #expect(l.unacknowledgedSince == 0, "passing the refused positions ends the wait (else: a stalled worker forever)")
        // A refusal repeated twice is not handled twice.
        let r3 = l.refuse(position: 3, count: 2, now: 3_000)
        #expect(r3.isEmpty)
    }

    @Test func refusalsInARowBackOffLongerUpToTheCap() {
        var l = HandoffLedger()
        var waits: [UInt64] = []
        for k in 0..<12 {
            let now = UInt64(k) * 10_000_000_000
            _ = l.refuse(position: 0, count: 0, now: now)
            waits.append(l.refusedUntil - now)
        }
        #expect(waits[0] == HandoffLedger.firstRefusalBackoffNanoseconds)
        #expect(waits[1] == 2 * HandoffLedger.firstRefusalBackoffNanoseconds)
        #expect(waits.last == HandoffLedger.maxRefusalBackoffNanoseconds)
        #expect(zip(waits, waits.dropFirst()).allSatisfy { $0 <= $1 })
    }

    /// The bug: acknowledgements a dying worker published just before its death were
    /// ignored, and connections it had adopted were handed to a second worker mid-stream.
    @Test func aDeadWorkersFinalPositionIsReadBeforeRedelivering() {
        var l = HandoffLedger()
        for fd in 1...4 { l.assign(held(Int32(fd))) }
        var fds: [Int32] = []
        l.startSending(max: 3, into: &fds)
        _ = l.sendCompleted(delivered: true, now: 0)
        l.startSending(max: 3, into: &fds)  // fd 4 in flight when the worker dies
        var closing: [Descriptor] = []
        let back = l.workerGone(finalPosition: 2, now: 1, closing: &closing)
        #expect(closing.map(\.value) == [1, 2], "adopted by the dead worker: closed, not served again")
        #expect(Set(back.map(\.fd)) == [3, 4])
        #expect(l.outstanding == 0)
        let r4 = l.sendCompleted(delivered: true, now: 2)
        #expect(r4.isEmpty, "the late completion finds nothing")
    }
}

@Suite("WaitingConnections")
struct WaitingConnectionsTests {
    @Test func boundedInNumber() {
        var w = WaitingConnections(limit: 2, timeoutNanoseconds: 100)
        let r5 = w.wait(held(1), now: 0)
        #expect(r5)
        let r6 = w.wait(held(2), now: 0)
        #expect(r6)
        let r7 = w.wait(held(3), now: 0)
        #expect(!r7)
        #expect(w.count == 2)
    }

    @Test func boundedInTimeFromTheAcceptEvenAfterRerouting() {
        var w = WaitingConnections(limit: 10, timeoutNanoseconds: 100)
        let r8 = w.wait(held(1, at: 50), now: 60)
        #expect(r8)
        let r9 = w.wait(held(2, at: 0), now: 60)
        #expect(r9, "rerouted after a refusal: older than the one before it")
        let r10 = w.wait(held(3, at: 0), now: 101)
        #expect(!r10, "already waited too long")
        let r11 = w.expired(now: 120)
        #expect(r11.map(\.fd) == [2])
        let r12 = w.expired(now: 151)
        #expect(r12.map(\.fd) == [1])
        #expect(w.isEmpty)
    }
}

/// Random event orders over three workers: every connection ends exactly once, either
/// acknowledged by one worker (closed here as served) or answered 503 — never both, never
/// twice, never forgotten.
@Suite("HandoffLedger properties")
struct HandoffLedgerPropertyTests {
    struct Rng {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(n))
        }
    }

    /// Through the ring: no positions, no success completions. A connection in flight is
    /// installed in the worker (maybe in any order), or its MSG_RING fails; the worker names
    /// what it adopted; a worker dies holding some it never named. Every connection still
    /// ends exactly once: served where it was named, or routed again (then 503 at worst).
    @Test(arguments: 0..<300)
    func throughTheRingEveryConnectionEndsExactlyOnce(seed: Int) {
        let world = LedgerWorld(workers: 2, waitLimit: 4, seed: UInt64(seed) &+ 1_000)
        var inFlight: [[Descriptor]] = [[], []]   // MSG_RINGs whose outcome is not decided yet
        var installed: [[Descriptor]] = [[], []]  // in the worker's table, not named yet
        var next: Int32 = 0
        var files: [Descriptor] = []
        func name(_ w: Int, _ f: Descriptor) {
            var closing: [Descriptor] = []
            if !world.ledgers[w].acknowledgeEach(f, now: world.now, closing: &closing) { world.problems.append("named \(f) unknown") }
            for c in closing { world.end(c.value, "served by \(w)") }
        }
        for _ in 0..<500 {
            world.now += UInt64(world.rng.next(50))
            let w = world.rng.next(2)
            switch world.rng.next(8) {
            case 0, 1:
                world.route(HeldConnection(file: Descriptor(direct: next), acceptedAt: world.now))
                next += 1
            case 2:
                guard world.alive[w] else { break }
                world.ledgers[w].startSendingEach(into: &files, now: world.now)
                inFlight[w] += files
            case 3:
                // The kernel decides one MSG_RING, in any order: installed, or failed (full table).
                guard !inFlight[w].isEmpty else { break }
                let f = inFlight[w].remove(at: world.rng.next(inFlight[w].count))
                if world.alive[w] && world.rng.next(5) != 0 {
                    installed[w].append(f)
                } else if let back = world.ledgers[w].sentEach(f, refused: world.alive[w], now: world.now) {
                    world.route(back)
                }
            case 4:
                // The worker names some of what was installed (and only then adopts it: a
                // connection it did not name it never touched, which is what lets its
                // death send the rest elsewhere).
                guard world.alive[w], !installed[w].isEmpty else { break }
                for _ in 0...world.rng.next(installed[w].count) where !installed[w].isEmpty {
                    name(w, installed[w].remove(at: world.rng.next(installed[w].count)))
                }
            case 5:
                // The worker dies: what it did not name was never served. MSG_RINGs not
                // decided yet fail afterwards, finding nothing.
                guard world.alive[w] else { break }
                world.alive[w] = false
                var closing: [Descriptor] = []
                for c in world.ledgers[w].workerGone(finalPosition: 0, now: world.now, closing: &closing) { world.route(c) }
                for f in inFlight[w] where world.ledgers[w].sentEach(f, refused: false, now: world.now) != nil { world.problems.append("late failure found \(f)") }
                inFlight[w] = []
                installed[w] = []
            case 6:
                if !world.alive[w] { world.alive[w] = true; world.ledgers[w] = HandoffLedger() }
            default:
                world.expireAndRetry()
            }
        }
        for _ in 0..<50 {
            world.now += 2_000
            world.expireAndRetry()
            if !world.alive.contains(true) { world.alive[0] = true; world.ledgers[0] = HandoffLedger() }
            for w in 0..<2 where world.alive[w] {
                world.ledgers[w].startSendingEach(into: &files, now: world.now)
                for f in inFlight[w] + files + installed[w] { name(w, f) }
                inFlight[w] = []
                installed[w] = []
            }
        }
        #expect(world.problems.isEmpty, "seed \(seed): \(world.problems.prefix(3))")
        let lost = (0..<next).filter { world.ended[$0] == nil }
        #expect(lost.isEmpty, "seed \(seed): never world.ended: \(lost.prefix(10))")
        #expect(world.ledgers.allSatisfy { $0.outstanding == 0 && $0.unacknowledgedSince == 0 } && world.waiting.isEmpty)
    }

    @Test(arguments: 0..<300)
    func everyConnectionEndsExactlyOnce(seed: Int) {
        let world = LedgerWorld(workers: 3, waitLimit: 5, seed: UInt64(seed))
        var positions = [0, 0, 0]          // hand-off positions delivered to each worker
        var adopted: [[Int32]] = [[], [], []]  // in position order, as the worker saw them
        var processed = [0, 0, 0]          // what each worker published
        var nextFD: Int32 = 0
        var fds: [Int32] = []

        func acknowledge(_ w: Int) {
            var closing: [Descriptor] = []
            world.ledgers[w].acknowledge(upTo: processed[w], now: world.now, closing: &closing)
            for fd in closing { world.end(fd.value, "served by worker \(w)") }
        }

        for _ in 0..<400 {
            world.now += UInt64(world.rng.next(50))
            let w = world.rng.next(3)
            switch world.rng.next(9) {
            case 0, 1:
                world.route(held(nextFD, at: world.now))
                nextFD += 1
            case 2:
                if world.alive[w] { world.ledgers[w].startSending(max: 1 + world.rng.next(4), into: &fds) }
            case 3:
                guard world.ledgers[w].isSending else { break }
                let delivered = world.alive[w] && world.rng.next(6) != 0
                let batch = world.ledgers[w].sending
                if delivered {
                    adopted[w] += batch.map(\.fd)
                    positions[w] += batch.count
                }
                for c in world.ledgers[w].sendCompleted(delivered: delivered, now: world.now) { world.route(c) }
            case 4:
                // The worker adopts some of what it got and publishes its position.
                if world.alive[w] && processed[w] < positions[w] { processed[w] += 1 + world.rng.next(positions[w] - processed[w]) }
                acknowledge(w)
            case 5:
                // The worker refuses the tail of what it was sent (its descriptor limit).
                guard world.alive[w], positions[w] > processed[w] else { break }
                let count = 1 + world.rng.next(positions[w] - processed[w])
                let at = positions[w] - count
                for c in world.ledgers[w].refuse(position: at, count: count, now: world.now) { world.route(c) }
                processed[w] = positions[w]  // confirmed: the position passes them
                adopted[w].removeLast(count)
            case 6:
                // The worker dies, maybe right after publishing its position.
                guard world.alive[w] else { break }
                if world.rng.next(2) == 0 { processed[w] = positions[w] }
                world.alive[w] = false
                var closing: [Descriptor] = []
                let back = world.ledgers[w].workerGone(finalPosition: processed[w], now: world.now, closing: &closing)
                for fd in closing { world.end(fd.value, "served by worker \(w)") }
                for c in back { world.route(c) }
            case 7:
                // A replacement in the slot: a fresh ledger, as a new record has.
                if !world.alive[w] {
                    world.alive[w] = true
                    world.ledgers[w] = HandoffLedger()
                    positions[w] = 0
                    processed[w] = 0
                    adopted[w] = []
                }
            default:
                world.expireAndRetry()
            }
        }
        // Wind down: workers catch up and acknowledge everything, then time passes.
        for _ in 0..<50 {
            world.now += 2_000
            world.expireAndRetry()
            for w in 0..<3 where world.alive[w] {
                world.ledgers[w].startSending(max: 253, into: &fds)
                let batch = world.ledgers[w].sending
                adopted[w] += batch.map(\.fd)
                positions[w] += batch.count
                for c in world.ledgers[w].sendCompleted(delivered: true, now: world.now) { world.route(c) }
                processed[w] = positions[w]
                acknowledge(w)
            }
            if !world.alive.contains(true) { world.alive[0] = true; world.ledgers[0] = HandoffLedger(); positions[0] = 0; processed[0] = 0 }
        }
        #expect(world.problems.isEmpty, "seed \(seed): \(world.problems.prefix(3))")
        let lost = (0..<nextFD).filter { world.ended[$0] == nil }
        #expect(lost.isEmpty, "seed \(seed): never world.ended: \(lost.prefix(10))")
        #expect(world.ledgers.allSatisfy { $0.outstanding == 0 } && world.waiting.isEmpty)
        #expect(world.ledgers.allSatisfy { $0.unacknowledgedSince == 0 }, "seed \(seed): a caught-up worker looks stalled")
    }
}

extension HeldConnection {
    /// The descriptor number (these tests use process descriptors).
    var fd: Int32 { file.value }
}

/// The primary's side of the ledger property tests: one ledger per worker, which are
/// alive, the waiting queue, and how each connection ended (exactly once, or a problem).
final class LedgerWorld {
    var rng: HandoffLedgerPropertyTests.Rng
    var ledgers: [HandoffLedger]
    var alive: [Bool]
    var waiting: WaitingConnections
    var ended: [Int32: String] = [:]
    var problems: [String] = []
    var now: UInt64 = 0

    init(workers: Int, waitLimit: Int, seed: UInt64) {
        rng = HandoffLedgerPropertyTests.Rng(state: seed)
        ledgers = Array(repeating: HandoffLedger(), count: workers)
        alive = Array(repeating: true, count: workers)
        waiting = WaitingConnections(limit: waitLimit, timeoutNanoseconds: 1_000)
    }

    func end(_ fd: Int32, _ how: String) {
        if let before = ended[fd] { problems.append("fd \(fd) ended twice: \(before), then \(how)") }
        ended[fd] = how
    }

    /// Connections that waited too long get 503; the rest are routed again.
    func expireAndRetry() {
        for c in waiting.expired(now: now) { end(c.fd, "503") }
        for c in waiting.takeAll() { route(c) }
    }

    /// As the primary routes: to a live worker not backing off, else the queue, else 503.
    func route(_ c: HeldConnection) {
        if waiting.hasExpired(c, now: now) { return end(c.fd, "503") }
        let eligible = ledgers.indices.filter { alive[$0] && !ledgers[$0].isBackingOff(now: now) }
        guard !eligible.isEmpty else {
            if !waiting.wait(c, now: now) { end(c.fd, "503") }
            return
        }
        ledgers[eligible[rng.next(eligible.count)]].assign(c)
    }
}
