import CLiburing
import Glibc

/// One io_uring instance, owned by one thread for its whole life.
///
/// The ring is set up with SINGLE_ISSUER | DEFER_TASKRUN where the kernel accepts them
/// (6.1), else COOP_TASKRUN | TASKRUN_FLAG (5.19), else no flags. With DEFER_TASKRUN,
/// completions are produced only while the owning thread waits in `submitAndWait`, which
/// is exactly how the event loops here run: one `submitAndWait` per turn, then every
/// ready completion is reaped in batches and the completion queue advanced once.
public final class Ring {
    @usableFromInline let ring: UnsafeMutablePointer<io_uring>
    /// Scratch space for `io_uring_peek_batch_cqe`: allocated once, no allocation per turn.
    @usableFromInline let batch: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    @usableFromInline let batchCapacity: UInt32
    /// The setup flags the kernel accepted.
    public let setupFlags: UInt32
    /// One timeout value per submission-queue slot (see `timeout(nanoseconds:userData:)`).
    @usableFromInline let timespecs: UnsafeMutablePointer<__kernel_timespec>

    public init(entries: UInt32 = 4096) throws(SystemError) {
        ring = .allocate(capacity: 1)
        ring.initialize(to: io_uring())
        batchCapacity = 256
        batch = .allocate(capacity: Int(batchCapacity))
        let single = CLiburing_SETUP_SINGLE_ISSUER() | CLiburing_SETUP_DEFER_TASKRUN()
        let coop = CLiburing_SETUP_COOP_TASKRUN() | CLiburing_SETUP_TASKRUN_FLAG()
        let submitAll = CLiburing_SETUP_SUBMIT_ALL()
        var lastError = Errno.invalidArgument
        var accepted: UInt32? = nil
        for flags in [single | submitAll, coop | submitAll, submitAll, 0] {
            var params = io_uring_params()
            params.flags = flags
            // The completion queue is 4x the submission queue: multishot accept and recv
            // post many completions per submission.
            params.flags |= UInt32(IORING_SETUP_CQSIZE)
            params.cq_entries = entries * 4
            let rc = io_uring_queue_init_params(entries, ring, &params)
            if rc == 0 { accepted = flags; break }
            lastError = Errno(negatedResult: rc)
            if lastError != .invalidArgument { break }
        }
        guard let accepted else {
            batch.deallocate()
            ring.deallocate()
            throw SystemError("io_uring_queue_init_params", lastError)
        }
        setupFlags = accepted
        let slots = Int(ring.pointee.sq.ring_entries)
        timespecs = .allocate(capacity: slots)
        timespecs.initialize(repeating: __kernel_timespec(), count: slots)
        // Registering the ring fd saves an fdget/fdput per io_uring_enter (5.18); optional.
        _ = io_uring_register_ring_fd(ring)
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deallocate()
        batch.deallocate()
        timespecs.deallocate()
    }

    /// The ring's own descriptor: what another ring names to reach this one (MSG_RING).
    public var descriptor: Int32 { ring.pointee.ring_fd }

    /// Slots in the registered file table (0: none registered).
    public private(set) var fileTableSize = 0

    /// Registers an empty file table of `count` slots (kernel 5.19), for direct descriptors:
    /// accepts and hand-offs then allocate slots in it. The kernel refuses more slots than
    /// RLIMIT_NOFILE, so the soft limit is first raised to the hard one
    /// (`ProcessControl.raiseDescriptorLimit`) and `count` cut to it. Returns false (and the
    /// ring goes on with process descriptors) where the kernel refuses.
    @discardableResult
    public func registerFileTable(count: Int) -> Bool {
        ProcessControl.raiseDescriptorLimit()
        // The soft limit is what the kernel checks.
        var limit = rlimit()
        let known = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < UInt64(Int32.max)
        // And the kernel's own ceiling, IORING_MAX_FIXED_FILES.
        let slots = min(known ? min(count, Int(limit.rlim_cur)) : count, 1 << 20)
        guard fileTableSize == 0, slots > 0, io_uring_register_files_sparse(ring, UInt32(slots)) == 0 else { return false }
        fileTableSize = slots
        return true
    }

    /// Raw access for the buffer ring's registration (and tests): nothing above URing
    /// touches liburing's types.
    var pointer: UnsafeMutablePointer<io_uring> { ring }

    /// A free submission entry; when the queue is full, what is queued is submitted first.
    /// Only the typed submissions (Ring+Submissions.swift) use it.
    @inline(__always)
    @usableFromInline
    func sqe() -> UnsafeMutablePointer<io_uring_sqe> {
        if let sqe = io_uring_get_sqe(ring) { return sqe }
        _ = io_uring_submit(ring)
        if let sqe = io_uring_get_sqe(ring) { return sqe }
        fatalError("io_uring submission queue still full after submit")
    }

    /// Submits everything queued and waits until at least `minimum` completions are ready.
    @inline(__always)
    public func submitAndWait(_ minimum: UInt32 = 1) throws(SystemError) {
        let rc = io_uring_submit_and_wait(ring, minimum)
        if rc >= 0 || rc == -EINTR || rc == -ETIME { return }
        // EBUSY/EAGAIN: the kernel has too many completions to post; reaping frees room.
        if rc == -EBUSY || rc == -EAGAIN { return }
        throw SystemError("io_uring_submit_and_wait", Errno(negatedResult: rc))
    }

    /// Entries prepared and not yet taken by the kernel.
    public var hasUnsubmitted: Bool { io_uring_sq_ready(ring) > 0 }

    /// Submits what is queued and reaps what is ready, without waiting: for a turn that has
    /// other work queued (RingExecutor's jobs). With DEFER_TASKRUN a completion is produced
    /// only inside io_uring_enter with GETEVENTS, which this makes.
    @inline(__always)
    public func submitAndGetEvents() {
        _ = io_uring_submit_and_get_events(ring)
    }

    /// Submits what is queued without waiting.
    @inline(__always)
    public func submit() {
        _ = io_uring_submit(ring)
    }

    /// Calls `body` with each ready completion, in batches, and advances the completion
    /// queue once per batch. Returns how many were handled.
    @inline(__always)
    @discardableResult
    public func drainCompletions(_ body: (Completion) -> Void) -> Int {
        var total = 0
        while true {
            let n = io_uring_peek_batch_cqe(ring, batch, batchCapacity)
            if n == 0 { return total }
            for i in 0..<Int(n) {
                let cqe = batch[i].unsafelyUnwrapped
                body(Completion(userData: UserData(rawValue: cqe.pointee.user_data),
                                result: cqe.pointee.res, flags: cqe.pointee.flags))
            }
            io_uring_cq_advance(ring, n)
            total += Int(n)
        }
    }
}
