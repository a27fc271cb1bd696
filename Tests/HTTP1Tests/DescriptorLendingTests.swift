import Testing
@testable import HTTP1

/// A streamed answer that borrows the connection's descriptor (a file spliced to the
/// socket): lent only once everything before it is sent, never closed while out, cut by
/// the send-stall timer without progress, and the connection goes on after it.
@Suite struct DescriptorLendingTests {
    func settings() -> ConnectionLifecycle.Settings {
        .init(maxUnsentOutput: 1024, readAheadBytes: 256, lingerNanoseconds: 500, sendStallNanoseconds: 2_000)
    }

    @Test func lentOnlyOnceTheHeadIsSentAndTheNextAnswerFollows() {
        let d = LifecycleDriver(settings: settings())
        d.deliver(get("/await", id: 1) + get("/b", id: 2))
        d.beginStream()
        d.borrow()
        #expect(d.lends == 0, "the head is still unsent")
        #expect(d.sendInFlight != nil)
        d.completeSend(limit: 10)
        #expect(d.lends == 0, "part of the head is still unsent")
        d.completeSend()
        #expect(d.lends == 1)
        #expect(d.sendInFlight == nil, "nothing is sent while the descriptor is out")
        d.giveBack()
        d.endStream()
        d.settle()
        #expect(d.answered.last == "/b id=2")
        #expect(d.violations.isEmpty, "\(d.violations)")
    }

    @Test func aConnectionClosingWhileLentShutsDownButWaitsForTheDescriptor() {
        let d = LifecycleDriver(settings: settings())
        d.shutdownsCompleteAtOnce = false
        d.deliver(get("/await", id: 1))
        d.beginStream()
        d.completeSend()
        d.borrow()
        #expect(d.lends == 1)
        d.receiveFails()
        #expect(d.abandoned == 1)
        #expect(d.shutdownsInFlight == 1, "the socket is shut down, which wakes the borrower's operation")
        d.completeShutdowns()
        #expect(!d.closeInFlight && !d.closed, "not closed while the borrower may still have an operation queued on it")
        d.giveBack()
        d.settle()
        #expect(d.closed && d.released == 1)
        #expect(d.violations.isEmpty, "\(d.violations)")
    }

    @Test func aBorrowerWithoutProgressMeetsTheSendStallTimer() {
        let d = LifecycleDriver(settings: settings())
        d.deliver(get("/await", id: 1))
        d.beginStream()
        d.completeSend()
        d.borrow()
        d.tick(at: 1_500)
        d.now = 1_500
        d.lentProgress()
        d.tick(at: 3_000)
        #expect(d.life.pointee.state == .open, "progress at 1,500 renewed the timer")
        d.tick(at: 3_600)
        #expect(d.life.pointee.state == .closing)
        d.completeShutdowns()
        d.giveBack()
        d.settle()
        #expect(d.released == 1)
        #expect(d.violations.isEmpty, "\(d.violations)")
    }

    @Test func aBorrowerWaitingWhenTheConnectionGoesIsToldNothingMore() {
        let d = LifecycleDriver(settings: settings())
        d.deliver(get("/await", id: 1))
        d.beginStream()
        d.borrow()  // waits: the head is unsent
        d.receiveFails()
        d.settle()
        #expect(d.lends == 0)
        #expect(d.released == 1)
        #expect(d.violations.isEmpty, "\(d.violations)")
    }

    /// Random orders of stream parts, borrowing, progress, sends, shutdowns, timers and a
    /// peer that fails: nothing is sent or closed while lent, and a connection that ends is
    /// released once, with the descriptor back.
    @Test(arguments: 0..<300)
    func randomOrdersNeverCloseUnderTheBorrower(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed))
        let d = LifecycleDriver(settings: settings())
        d.shutdownsCompleteAtOnce = seed % 2 == 0
        d.deliver(get("/await", id: 1) + get("/b", id: 2))
        d.beginStream()
        var time: UInt64 = 0
        for _ in 0..<400 {
            if d.released > 0 { break }
            switch rng.next() % 10 {
            case 0: d.streamPart(Int(rng.next() % 400) + 1)
            case 1: d.borrow()
            case 2: d.giveBack()
            case 3: d.lentProgress()
            case 4: d.completeSend(limit: Int(rng.next() % 600) + 1)
            case 5: d.completeShutdowns()
            case 6:
                time += rng.next() % 1_500
                d.tick(at: time)
            case 7: if d.receiveArmed && rng.next() % 6 == 0 { d.receiveFails() }
            case 8: if !d.lentOut && rng.next() % 4 == 0 { d.endStream() }
            default: d.completeClose()
            }
        }
        // The end: the borrower gives back, and the loop closes the connection.
        d.giveBack()
        d.life.pointee.abort()
        d.run()
        d.settle()
        #expect(d.released == 1, "seed \(seed)")
        #expect(d.violations.isEmpty, "seed \(seed): \(d.violations)")
    }
}
