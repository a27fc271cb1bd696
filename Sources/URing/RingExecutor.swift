import Glibc
import Synchronization

/// The executor of a ring's thread: Swift tasks whose executor preference is this one run
/// on the loop's thread, between its turns, so an `await` in a handler does not leave the
/// loop unless the awaited work itself lives elsewhere (a timer, a thread pool, another
/// process). The loop owns the ring alone (SINGLE_ISSUER), and a job may submit to it:
/// it runs where every other completion handler runs.
///
/// A job enqueued on the loop's thread (a task a handler starts, a continuation resumed by
/// a completion) waits in the queue for the end of the turn. One enqueued elsewhere also
/// wakes the ring (WakeEvent, coalesced). The loop calls `runJobs()` once per turn and,
/// while jobs remain, submits without waiting for a completion.
///
/// `checkIsolated` and `isIsolatingCurrentContext` tell the runtime whether the calling
/// thread is the loop's, so `assumeIsolated` and isolation checks work on it.
public final class RingExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    public let wake: WakeEvent
    /// Jobs from any thread, taken by the loop in one swap per turn, under `lock`.
    /// A pthread mutex rather than Synchronization's Mutex: on Linux that one waits with
    /// futex calls ThreadSanitizer cannot see, which `make check-tsan` then reports as races.
    var incoming: [UnownedJob] = []
    let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// The jobs of the turn being run (the loop's thread only; swapped with `incoming`,
    /// so neither array allocates once both have grown to the busiest turn's size).
    var current: [UnownedJob] = []
    /// The loop's pthread_t once it runs; 0 before.
    let owner = Atomic<UInt>(0)

    public init() throws(SystemError) {
        wake = try WakeEvent()
        pthread_mutex_init(lock, nil)
        incoming.reserveCapacity(64)
        current.reserveCapacity(64)
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    @inline(__always)
    func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return body()
    }

    /// Called by the loop on its own thread when it starts: binds this executor to it and
    /// arms the wake read (re-arm it with `wake.arm` when its completion comes).
    public func start(on ring: Ring, wakeUserData: UserData) {
        owner.store(UInt(pthread_self()), ordering: .releasing)
        wake.arm(ring, userData: wakeUserData)
    }

    /// The loop's wait for its next turn: for a completion, unless jobs wait, when the
    /// ring is only reaped (with DEFER_TASKRUN that still produces what is ready).
    @inline(__always)
    public func waitForWork(on ring: Ring) throws(SystemError) {
        if hasJobs {
            ring.submitAndGetEvents()
        } else {
            try ring.submitAndWait(1)
        }
    }

    /// Whether a loop has bound this executor to its thread (it runs, or has run).
    public var isBound: Bool { owner.load(ordering: .acquiring) != 0 }

    /// Whether the caller runs on the loop's thread.
    @inline(__always)
    public var isOnLoopThread: Bool {
        owner.load(ordering: .relaxed) == UInt(pthread_self())
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        locked { incoming.append(job) }
        if !isOnLoopThread { wake.signal() }
    }

    public func checkIsolated() {
        precondition(isOnLoopThread, "expected to run on the ring's thread")
    }

    public func isIsolatingCurrentContext() -> Bool? { isOnLoopThread }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor { UnownedTaskExecutor(ordinary: self) }

    /// Whether jobs wait (the loop then must not sleep in its next wait).
    public var hasJobs: Bool { locked { !incoming.isEmpty } }

    /// Runs the jobs queued so far (not those they enqueue: the ring's completions get
    /// their turn first). On the loop's thread only.
    public func runJobs() {
        wake.reset()
        locked { swap(&incoming, &current) }
        guard !current.isEmpty else { return }
        let serial = asUnownedSerialExecutor()
        let task = asUnownedTaskExecutor()
        for job in current { job.runSynchronously(isolatedTo: serial, taskExecutor: task) }
        current.removeAll(keepingCapacity: true)
    }
}
