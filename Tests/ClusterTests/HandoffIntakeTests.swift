@testable import Cluster
import Testing
import URing

@Suite("HandoffIntake")
struct HandoffIntakeTests {
    @Test func everythingThatArrivesIsAdoptedAndAcknowledged() {
        var i = HandoffIntake()
        #expect(i.received(count: 3, arrived: 3) == .init(adopt: 3, refused: nil))
        #expect(i.received(count: 2, arrived: 2) == .init(adopt: 2, refused: nil))
        #expect(i.processed == 5)
    }

    @Test func descriptorsDroppedAtTheLimitAreRefusedAndHoldThePosition() {
        var i = HandoffIntake()
        _ = i.received(count: 2, arrived: 2)
        #expect(i.received(count: 5, arrived: 3) == .init(adopt: 3, refused: (position: 5, count: 2)))
        #expect(i.processed == 5, "stays at the refusal until the primary confirms it")
        i.confirmed(total: 1)
        #expect(i.processed == 7)
    }

    /// Found in review: after a refusal, later hand-offs were adopted while the published
    /// position stayed below the refusal; a worker dying then had them taken back and served
    /// a second time. Now nothing after an unconfirmed refusal is adopted.
    @Test func nothingIsAdoptedWhileARefusalIsUnconfirmed() {
        var i = HandoffIntake()
        _ = i.received(count: 4, arrived: 2)  // positions 2 and 3 refused
        #expect(i.received(count: 3, arrived: 3) == .init(adopt: 0, refused: (position: 4, count: 3)))
        #expect(i.processed == 2)
        i.confirmed(total: 1)
        #expect(i.processed == 4, "the second refusal still holds it")
        i.confirmed(total: 2)
        #expect(i.processed == 7)
        #expect(i.received(count: 1, arrived: 1) == .init(adopt: 1, refused: nil))
        #expect(i.processed == 8)
    }

    @Test func aConfirmationCountedTwiceChangesNothing() {
        var i = HandoffIntake()
        _ = i.received(count: 2, arrived: 1)
        i.confirmed(total: 1)
        i.confirmed(total: 1)
        #expect(i.processed == 2)
        _ = i.received(count: 2, arrived: 0)
        #expect(i.processed == 2)
        i.confirmed(total: 2)
        #expect(i.processed == 4)
    }

    /// With the primary's ledger: whatever the worker adopted is below the published
    /// position when it dies, so it is closed, never handed to a second worker.
    @Test(arguments: 0..<200)
    func withTheLedgerNoAdoptedConnectionIsTakenBack(seed: Int) {
        var rng = HandoffLedgerPropertyTests.Rng(state: UInt64(seed) &+ 17)
        var ledger = HandoffLedger()
        var intake = HandoffIntake()
        var adopted: Set<Int32> = []
        var next: Int32 = 0
        var fds: [Int32] = []
        var handled = 0
        var inFlight: [(position: Int, count: Int)] = []  // refusal messages not yet read by the primary
        for _ in 0..<60 {
            switch rng.next(5) {
            case 0:
                for _ in 0..<(1 + rng.next(4)) { ledger.assign(held(next)); next += 1 }
            case 1:
                ledger.startSending(max: 1 + rng.next(5), into: &fds)
                guard !fds.isEmpty else { break }
                let batch = fds
                _ = ledger.sendCompleted(delivered: true, now: 0)
                let d = intake.received(count: batch.count, arrived: rng.next(batch.count + 1))
                adopted.formUnion(batch.prefix(d.adopt))
                if let r = d.refused { inFlight.append(r) }
            case 2:
                intake.confirmed(total: handled)
                var closing: [Descriptor] = []
                ledger.acknowledge(upTo: intake.processed, now: 0, closing: &closing)
                #expect(Set(closing.map(\.value)).isSubset(of: adopted), "closed one the worker did not adopt")
            case 3:
                // The primary reads a refusal message.
                guard !inFlight.isEmpty else { break }
                let r = inFlight.removeFirst()
                _ = ledger.refuse(position: r.position, count: r.count, now: 0)
                handled += 1
            default:
                break
            }
        }
        // The worker dies with whatever it published last, refusal messages maybe unread.
        var closing: [Descriptor] = []
        let back = ledger.workerGone(finalPosition: intake.processed, now: 0, closing: &closing)
        #expect(adopted.isDisjoint(with: back.map(\.fd)), "seed \(seed): adopted connections handed back")
        #expect(Set(closing.map(\.value)).isSubset(of: adopted), "seed \(seed): closed one the worker did not adopt")
    }
}
