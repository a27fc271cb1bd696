import Glibc

/// Accepting connections, the one path for a worker's loop and the primary's alike:
/// - arm: one multishot accept per listener;
/// - back off on every error (AcceptBackoff), re-arming from a ring timer, and report the
///   error at most once a second;
/// - stop: cancel the accepts and the timers, then sweep each listener's queue with
///   accepts that do not wait (IORING_ACCEPT_DONTWAIT) until it is empty, so connections
///   the kernel completed are served, not left to be reset. A sweep takes at most what was
///   queued when it began, plus a margin for handshakes completing meanwhile: on a listener
///   nobody stopped new clients from reaching, it would otherwise never end. On a kernel
///   without ACCEPT_DONTWAIT (before 6.10) only exclusive listeners are swept, with
///   synchronous non-blocking accepts (`takeSwept`);
/// - close the listeners it owns, once nothing of its own is in flight.
///
/// The owner gives four UserData kinds (`Kinds`) and passes every completion of those
/// kinds to `complete(_:ring:)`; connections come back as `.connection(descriptor)`: direct
/// descriptors when `direct` is set (the owner registered its ring's file table), otherwise
/// process descriptors. A listener's
/// slot is reused only when none of its operations is in flight, so a completion always
/// finds its own listener (the generation in its user_data proves it).
public struct Acceptor {
    public struct Kinds: Sendable, Equatable {
        public var accept: UInt8
        public var retry: UInt8
        public var sweep: UInt8
        public var cancel: UInt8
        public init(accept: UInt8, retry: UInt8, sweep: UInt8, cancel: UInt8) {
            self.accept = accept
            self.retry = retry
            self.sweep = sweep
            self.cancel = cancel
        }
    }

    public enum Event: Equatable, Sendable {
        case none
        case connection(Descriptor)
        /// An accept failed and is retried after `retryNanoseconds`. Returned at most once a
        /// second however many fail, for the owner's log.
        case failed(Errno, retryNanoseconds: UInt64)
    }

    struct Listener {
        /// -1 once removed or closed.
        var fd: Int32
        var owned: Bool
        /// Nobody else accepts on it: it may be swept synchronously (O_NONBLOCK toggled).
        var exclusive: Bool
        var generation: UInt32
        /// Accepts the current sweep may still make.
        var sweepBudget = 0
        var multishotArmed = false
        var retryArmed = false
        var sweepInFlight = false
        var cancelsInFlight = 0
        var inFlight: Bool { multishotArmed || retryArmed || sweepInFlight || cancelsInFlight > 0 }
    }

    public let kinds: Kinds
    /// Accept into the ring's file table (set before the first `add`).
    public var direct = false
    var listeners: [Listener] = []
    public private(set) var backoff = AcceptBackoff()
    /// `stop` was called: nothing is armed again; listeners added from now on are only swept.
    public private(set) var isStopped = false
    var sweepsOnStop = false
    var lastReport: UInt64 = 0
    static let reportIntervalNanoseconds: UInt64 = 1_000_000_000
    /// Connections taken by a synchronous sweep (the fallback), for `takeSwept`.
    var swept: [Int32] = []
    /// Accepts a sweep may make beyond the queue's length when it began.
    static let sweepMargin = 64
    /// A sweep's budget when the queue's length cannot be read.
    static let sweepDefaultBudget = 4096

    /// Whether this kernel knows IORING_ACCEPT_DONTWAIT (6.10): probed once, on a throwaway
    /// listener, by one such accept (EAGAIN if known, EINVAL if not). Only a sweep asks, so
    /// a process that never stops never probes: nothing of it is in start-up.
    static let dontWaitSupported: Bool = {
        guard let ring = try? Ring(entries: 2),
              let fd = try? Socket.listen(host: "127.0.0.1", port: 0, backlog: 1) else { return false }
        defer { closeDescriptor(fd) }
        ring.acceptQueued(fd, userData: UserData(kind: 1))
        var result = -EINVAL
        for _ in 0..<10 {
            try? ring.submitAndWait(1)
            if ring.drainCompletions({ result = $0.result }) > 0 { break }
        }
        if result >= 0 { closeDescriptor(result) }
        return result == -EAGAIN
    }()

    /// Set by a test to exercise one sweep path; otherwise the kernel's answer is used.
    let dontWaitOverride: Bool?

    public init(kinds: Kinds) {
        self.init(kinds: kinds, dontWait: nil)
    }

    init(kinds: Kinds, dontWait: Bool?) {
        self.kinds = kinds
        dontWaitOverride = dontWait
    }

    /// Nothing of the acceptor's is in flight: no accept can still deliver a connection.
    public var isIdle: Bool { !listeners.contains { $0.inFlight } }

    /// The listeners accepted on (or swept) now.
    public var descriptors: [Int32] { listeners.compactMap { $0.fd >= 0 ? $0.fd : nil } }

    /// Starts accepting on `fd`. An `owned` listener is closed by `closeListeners()`; the
    /// others belong to someone else (the primary's registry). `exclusive`: no other
    /// process accepts on it. After `stop(sweep: true)`, a listener added is swept once
    /// instead.
    ///
    /// TCP_NODELAY is set on the listener here: every connection accepted from it inherits
    /// it, so none needs a system call of its own.
    public mutating func add(_ fd: Int32, owned: Bool, exclusive: Bool = false, ring: Ring) {
        Socket.setNoDelay(fd)
        let index: Int
        if let free = listeners.firstIndex(where: { $0.fd < 0 && !$0.inFlight }) {
            index = free
            listeners[index] = Listener(fd: fd, owned: owned, exclusive: exclusive,
                                        generation: (listeners[index].generation &+ 1) & UserData.generationMask)
        } else {
            index = listeners.count
            listeners.append(Listener(fd: fd, owned: owned, exclusive: exclusive, generation: 0))
        }
        if !isStopped {
            arm(index, ring)
        } else if sweepsOnStop {
            startSweep(index, ring)
        }
    }

    /// Stops accepting on `fd` (another process serves its queue now); it is not closed.
    public mutating func remove(_ fd: Int32, ring: Ring) {
        guard let index = listeners.firstIndex(where: { $0.fd == fd }) else { return }
        disarm(index, ring)
        listeners[index].fd = -1
    }

    /// Stops accepting everywhere. With `sweep`, each listener's queue is then emptied
    /// (connections come back as usual) before the acceptor is idle.
    public mutating func stop(sweep: Bool, ring: Ring) {
        guard !isStopped else { return }
        isStopped = true
        sweepsOnStop = sweep
        for index in listeners.indices where listeners[index].fd >= 0 {
            disarm(index, ring)
            if sweep { startSweep(index, ring) }
        }
    }

    /// Sweeps every listener once more (after `stop(sweep: true)`): for what completed its
    /// handshake since the first sweep.
    public mutating func sweepAgain(ring: Ring) {
        guard isStopped else { return }
        for index in listeners.indices where listeners[index].fd >= 0 { startSweep(index, ring) }
    }

    /// Hands over the connections a synchronous sweep took (only on a kernel without
    /// ACCEPT_DONTWAIT): call after `stop`, `sweepAgain` or an `add` after stop.
    /// They are process descriptors, even when `direct` is set.
    public mutating func takeSwept(_ body: (Descriptor) -> Void) {
        guard !swept.isEmpty else { return }
        for fd in swept { body(Descriptor(process: fd)) }
        swept.removeAll()
    }

    /// Closes the owned listeners. Call once idle after `stop`, when no accept can be on them.
    public mutating func closeListeners() {
        for index in listeners.indices where listeners[index].fd >= 0 && listeners[index].owned {
            closeDescriptor(listeners[index].fd)
            listeners[index].fd = -1
        }
    }

    /// A completion of one of `kinds`.
    public mutating func complete(_ c: Completion, ring: Ring) -> Event {
        let index = Int(c.userData.index)
        guard index < listeners.count, listeners[index].generation == c.userData.generation else {
            // Not expected (see the type's comment); a connection is still served, never dropped.
            if c.userData.kind != kinds.retry && c.userData.kind != kinds.cancel, case .connection(let fd) = c.accepted {
                return .connection(accepted(fd))
            }
            return .none
        }
        switch c.userData.kind {
        case kinds.accept:
            if !c.hasMore { listeners[index].multishotArmed = false }
            switch c.accepted {
            case .connection(let fd):
                backoff.succeeded()
                // A multishot accept may also end without an error (the completion queue
                // overflowed): it is armed again.
                if !c.hasMore && accepting(index) { arm(index, ring) }
                return .connection(accepted(fd))
            case .canceled:
                if !c.hasMore && accepting(index) { arm(index, ring) }
                return .none
            case .failed(let errno):
                return failed(index, errno, ended: !c.hasMore, ring)
            }
        case kinds.retry:
            listeners[index].retryArmed = false
            if accepting(index) { arm(index, ring) }
            return .none
        case kinds.sweep:
            listeners[index].sweepInFlight = false
            switch c.accepted {
            case .connection(let fd):
                continueSweep(index, ring)
                return .connection(accepted(fd))
            case .failed(let errno) where errno == .connectionAbort || errno == .interrupted:
                continueSweep(index, ring)
                return .none
            case .failed, .canceled:
                // EAGAIN: the queue is empty, the sweep's normal end. At the descriptor limit
                // (or on a kernel without ACCEPT_DONTWAIT, EINVAL) what is queued stays for
                // the primary's last sweep, which answers it 503.
                return .none
            }
        case kinds.cancel:
            listeners[index].cancelsInFlight -= 1
            return .none
        default:
            return .none
        }
    }

    // MARK: - Operations

    @inline(__always)
    func accepted(_ result: Int32) -> Descriptor {
        direct ? Descriptor(direct: result) : Descriptor(process: result)
    }

    func userData(_ kind: UInt8, _ index: Int) -> UserData {
        UserData(kind: kind, generation: listeners[index].generation, index: UInt32(index))
    }

    func accepting(_ index: Int) -> Bool { !isStopped && listeners[index].fd >= 0 }

    mutating func arm(_ index: Int, _ ring: Ring) {
        guard !listeners[index].multishotArmed else { return }
        listeners[index].multishotArmed = true
        ring.acceptMultishot(listeners[index].fd, direct: direct, userData: userData(kinds.accept, index))
    }

    /// Begins a sweep of what is queued now (and what completes its handshake meanwhile).
    mutating func startSweep(_ index: Int, _ ring: Ring) {
        let fd = listeners[index].fd
        guard fd >= 0 else { return }
        listeners[index].sweepBudget = Socket.acceptQueueLength(fd).map { $0 + Self.sweepMargin } ?? Self.sweepDefaultBudget
        continueSweep(index, ring)
    }

    mutating func continueSweep(_ index: Int, _ ring: Ring) {
        let fd = listeners[index].fd
        guard fd >= 0, !listeners[index].sweepInFlight, listeners[index].sweepBudget > 0 else { return }
        guard dontWaitOverride ?? Self.dontWaitSupported else {
            // A blocking accept on a listener another process also accepts on could wait
            // forever: only exclusive listeners are swept without ACCEPT_DONTWAIT.
            if listeners[index].exclusive {
                Socket.acceptQueuedExclusively(fd, limit: listeners[index].sweepBudget) { swept.append($0) }
            }
            listeners[index].sweepBudget = 0
            return
        }
        listeners[index].sweepBudget -= 1
        listeners[index].sweepInFlight = true
        ring.acceptQueued(fd, direct: direct, userData: userData(kinds.sweep, index))
    }

    /// Cancels the listener's multishot accept and its retry timer, if armed.
    mutating func disarm(_ index: Int, _ ring: Ring) {
        if listeners[index].multishotArmed {
            listeners[index].cancelsInFlight += 1
            ring.cancel(userData(kinds.accept, index), userData: userData(kinds.cancel, index))
        }
        if listeners[index].retryArmed {
            listeners[index].cancelsInFlight += 1
            ring.removeTimeout(userData(kinds.retry, index), userData: userData(kinds.cancel, index))
        }
    }

    /// Every error ends a multishot accept, and re-arming at once on one that persists (the
    /// descriptor limit) would spin: the accept waits AcceptBackoff's delay first.
    mutating func failed(_ index: Int, _ errno: Errno, ended: Bool, _ ring: Ring) -> Event {
        let delay = backoff.failed()
        if ended && accepting(index) && !listeners[index].retryArmed {
            listeners[index].retryArmed = true
            ring.timeout(nanoseconds: delay, userData: userData(kinds.retry, index))
        }
        let now = monotonicNanoseconds()
        guard lastReport == 0 || now &- lastReport >= Self.reportIntervalNanoseconds else { return .none }
        lastReport = now
        return .failed(errno, retryNanoseconds: delay)
    }
}
