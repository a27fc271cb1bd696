import Glibc
import Testing
import URing

@Suite struct SpliceTransferTests {
    @Test func aSmallFileIsOneFillAndOneDrain() {
        var t = SpliceTransfer(offset: 0, count: 10, pipeCapacity: 65536)
        #expect(t.start() == .fill(offset: 0, length: 10))
        #expect(t.filled(10) == .drain(length: 10))
        #expect(t.drained(10) == .done)
        #expect(t.sent == 10 && t.pipeIsEmpty && t.finished)
    }

    @Test func nothingToSendIsDoneAtOnce() {
        var t = SpliceTransfer(offset: 7, count: 0, pipeCapacity: 4)
        #expect(t.start() == .done)
    }

    /// A file larger than the pipe, a socket that takes less than offered and then is full:
    /// the pipe is emptied before it is filled again, from where the last fill ended.
    @Test func aLargeFileGoesThroughThePipeInTurns() {
        var t = SpliceTransfer(offset: 100, count: 10, pipeCapacity: 4)
        #expect(t.start() == .fill(offset: 100, length: 4))
        #expect(t.filled(4) == .drain(length: 4))
        // A short drain: the socket is full, so the next step is the poll, not a drain.
        #expect(t.drained(3) == .waitWritable)
        #expect(t.writable() == .drain(length: 1))
        #expect(t.drained(-EAGAIN) == .waitWritable)
        #expect(t.writable() == .drain(length: 1))
        #expect(t.drained(1) == .fill(offset: 104, length: 4))
        // A short fill is allowed (the file is not at its end yet).
        #expect(t.filled(2) == .drain(length: 2))
        #expect(t.drained(2) == .fill(offset: 106, length: 4))
        #expect(t.filled(4) == .drain(length: 4))
        #expect(t.drained(4) == .done)
        #expect(t.sent == 10 && t.offset == 110)
    }

    /// The file shrank after its Content-Length was written: the promise cannot be kept.
    @Test func aFileThatEndsEarlyFailsTheTransfer() {
        var t = SpliceTransfer(offset: 0, count: 10, pipeCapacity: 4)
        _ = t.start()
        #expect(t.filled(4) == .drain(length: 4))
        #expect(t.drained(4) == .fill(offset: 4, length: 4))
        #expect(t.filled(0) == .fail(errno: nil))
        #expect(t.finished)
        // Late completions after the end change nothing.
        #expect(t.drained(4) == .done)
        #expect(t.sent == 4)
    }

    @Test func errorsFailAndLeaveThePipeMarkedDirty() {
        var t = SpliceTransfer(offset: 0, count: 10, pipeCapacity: 16)
        _ = t.start()
        #expect(t.filled(10) == .drain(length: 10))
        #expect(t.drained(4) == .waitWritable)
        #expect(t.writable() == .drain(length: 6))
        #expect(t.drained(-EPIPE) == .fail(errno: EPIPE))
        #expect(!t.pipeIsEmpty, "6 bytes stay in the pipe: it must not be reused")
        var u = SpliceTransfer(offset: 0, count: 10, pipeCapacity: 16)
        _ = u.start()
        #expect(u.filled(-EIO) == .fail(errno: EIO))
        // More than was asked, or 0 from a pipe that holds bytes: broken, not retried.
        var v = SpliceTransfer(offset: 0, count: 10, pipeCapacity: 4)
        _ = v.start()
        #expect(v.filled(5) == .fail(errno: nil))
        var w = SpliceTransfer(offset: 0, count: 4, pipeCapacity: 4)
        _ = w.start()
        _ = w.filled(4)
        #expect(w.drained(0) == .fail(errno: nil))
    }

    /// Random short fills and drains, EAGAIN and polls, over many sizes: every byte is
    /// sent once, in order, fills never exceed the pipe, and it always ends.
    @Test func randomShortResultsStillSendEveryByteInOrder() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        for _ in 0..<2000 {
            let count = random(5000), capacity = 1 + random(700), start = Int64(random(1000))
            var t = SpliceTransfer(offset: start, count: count, pipeCapacity: capacity)
            var nextFileByte = start, pipe = 0, onSocket = 0, steps = 0
            var action = t.start()
            loop: while steps < 100_000 {
                steps += 1
                switch action {
                case .fill(let offset, let length):
                    #expect(offset == nextFileByte && length > 0 && length + pipe <= capacity)
                    let n = 1 + random(length)
                    nextFileByte += Int64(n)
                    pipe += n
                    action = t.filled(Int32(n))
                case .drain(let length):
                    #expect(length == pipe)
                    if random(4) == 0 { action = t.drained(-EAGAIN); continue }
                    let n = 1 + random(length)
                    pipe -= n
                    onSocket += n
                    action = t.drained(Int32(n))
                case .waitWritable:
                    action = t.writable()
                case .done:
                    break loop
                case .fail:
                    Issue.record("no failure was fed in")
                    break loop
                }
            }
            #expect(action == .done && onSocket == count && t.sent == count && pipe == 0)
        }
    }
}

@Suite struct SpliceTransferGrowthTests {
    /// Fills start at `firstFill` and double up to the pipe's capacity.
    @Test func fillsGrowToThePipe() {
        var t = SpliceTransfer(offset: 0, count: 1_000, pipeCapacity: 64, firstFill: 8)
        var sizes: [Int] = []
        var action = t.start()
        while true {
            switch action {
            case .fill(_, let length):
                sizes.append(length)
                action = t.filled(Int32(length))
            case .drain(let length):
                action = t.drained(Int32(length))
            case .waitWritable:
                action = t.writable()
            case .done, .fail:
                #expect(sizes.prefix(5) == [8, 16, 32, 64, 64])
                #expect(sizes.reduce(0, +) == 1_000 && t.sent == 1_000)
                return
            }
        }
    }
}
