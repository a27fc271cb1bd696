import Glibc

/// A request to stop a loop, made from any thread, at any time: before the loop exists,
/// while it runs, or after it ended. Signals are one way to stop a loop; a host that owns
/// them (a ServiceGroup that took SIGTERM) or a program's own thread asks through this.
///
/// The loop binds it, on its own thread, once it can stop: what a request does is then run
/// on the loop (through its executor) and never on the caller's thread, since the loop's
/// state is the loop's alone. A request made before the bind is kept and honoured by it.
public final class LoopStopRequest: @unchecked Sendable {
    let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    // Under `lock`.
    var executor: RingExecutor?
    var stop: (() -> Void)?
    var asked = false
    var ended = false

    public init() {
        pthread_mutex_init(lock, nil)
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    /// Whether a stop was asked for (before or after the bind).
    public var wasRequested: Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return asked
    }

    /// On the loop's thread, before it runs: `stop` is what a request runs there. A request
    /// that came earlier runs it now, on this thread.
    public func bind(_ executor: RingExecutor, stop: @escaping () -> Void) {
        pthread_mutex_lock(lock)
        self.executor = executor
        self.stop = stop
        let early = asked
        pthread_mutex_unlock(lock)
        if early { stop() }
    }

    /// When the loop has ended: later requests do nothing.
    public func unbind() {
        pthread_mutex_lock(lock)
        executor = nil
        stop = nil
        ended = true
        pthread_mutex_unlock(lock)
    }

    /// From any thread: the loop runs its stop, soon (on its next turn when called from
    /// elsewhere); before the bind, at the bind. Asking twice is asking once.
    public func request() {
        pthread_mutex_lock(lock)
        let first = !asked && !ended
        asked = true
        let target = executor
        let stop = stop
        pthread_mutex_unlock(lock)
        guard first, let target, let stop else { return }
        if target.isOnLoopThread {
            stop()
        } else {
            let call = UncheckedCall(stop)
            Task(executorPreference: target) { call.run() }
        }
    }
}

/// A closure that is only ever run on the loop it was made for (LoopStopRequest).
struct UncheckedCall: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
