import Glibc

/// Ring operations a task on the loop's executor awaits: the task submits one entry and is
/// suspended until its completion, which resumes it with the kernel's result.
///
/// Why not cancellable: the entry may point into memory the awaiting function owns (a path,
/// an `open_how`, a statx buffer, a read buffer). The task is resumed by the completion
/// alone, never by its own cancellation, so that memory outlives the kernel's use of it
/// (monoio's rule: an operation owns its buffers until its completion). A cancelled task
/// sees its cancellation at its next check, after the operation has finished.
///
/// One table per loop, on the loop's thread only. Slots are reused with a new generation,
/// as connection slots are, so a completion never resumes the wrong waiter.
public final class AwaitedOperations: @unchecked Sendable {
    let ring: Ring
    let kind: UInt8
    let executor: RingExecutor
    var waiters: [CheckedContinuation<Int32, Never>?] = []
    var generations: [UInt32] = []
    var free: [UInt32] = []
    /// Operations submitted and not yet completed.
    public private(set) var inFlight = 0

    /// `kind`: the user_data kind the loop routes to `complete`.
    public init(ring: Ring, executor: RingExecutor, kind: UInt8) {
        self.ring = ring
        self.executor = executor
        self.kind = kind
    }

    /// Prepares one entry with `prepare` (given the ring and the user_data to put on it),
    /// and returns its completion's result once it comes: a count, a descriptor, 0, or -errno.
    public func perform(_ prepare: (Ring, UserData) -> Void) async -> Int32 {
        precondition(executor.isOnLoopThread, "a ring operation awaited off the loop's thread")
        return await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            let index: Int
            if let reused = free.popLast() {
                index = Int(reused)
            } else {
                index = waiters.count
                waiters.append(nil)
                generations.append(0)
            }
            waiters[index] = c
            inFlight += 1
            prepare(ring, UserData(kind: kind, generation: generations[index], index: UInt32(index)))
        }
    }

    /// The loop's share: a completion of this table's kind.
    public func complete(_ c: Completion) {
        let index = Int(c.userData.index)
        guard index < waiters.count, generations[index] == c.userData.generation,
              let waiter = waiters[index] else { return }
        waiters[index] = nil
        generations[index] = (generations[index] &+ 1) & UserData.generationMask
        free.append(UInt32(index))
        inFlight -= 1
        waiter.resume(returning: c.result)
    }
}
