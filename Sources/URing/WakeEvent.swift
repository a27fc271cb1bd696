import CLiburing
import Glibc
import Synchronization

/// Wakes a ring from another thread: an eventfd whose read is kept armed on the ring, so
/// a write from anywhere completes that read and ends the loop's wait.
///
/// Wakes are coalesced: the first `signal()` after the loop last looked for work writes
/// the eventfd, and every later one until the loop looks again (`reset()`) writes nothing.
/// A burst of completions from a thread pool costs the loop one wake-up, not one each.
/// The order that makes this safe, with the loop's queue of work:
///
///     other thread: push work, then signal()       loop: reset(), then take the queue
///
/// Work pushed before the reset is taken by the loop's look that follows; work pushed
/// after it finds the flag clear and writes, so the loop cannot sleep on work it missed.
public final class WakeEvent: @unchecked Sendable {
    public let descriptor: Int32
    /// The 8-byte counter the armed read fills (its value is not needed: one read clears it).
    let counter: UnsafeMutablePointer<UInt64>
    /// A write is on its way, or was made since the last `reset()`.
    let requested = Atomic<Bool>(false)

    public init() throws(SystemError) {
        descriptor = try syscall("eventfd") { eventfd(0, Int32(EFD_CLOEXEC)) }
        counter = .allocate(capacity: 1)
        counter.initialize(to: 0)
    }

    deinit {
        closeDescriptor(descriptor)
        counter.deallocate()
    }

    /// Submits the read that a `signal()` completes; arm it again after each completion.
    public func arm(_ ring: Ring, userData: UserData) {
        ring.read(descriptor, into: counter, count: 8, userData: userData)
    }

    /// From any thread: make sure the ring wakes to look for work.
    public func signal() {
        guard !requested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var one: UInt64 = 1
        // eventfd's write fails only on counter overflow (2^64 - 1 unread wakes), which
        // the armed read rules out; EINTR is retried by the choke point.
        _ = try? syscall("write(eventfd)") { Glibc.write(descriptor, &one, 8) }
    }

    /// On the ring's thread, just before it takes its queue of work.
    public func reset() {
        requested.store(false, ordering: .sequentiallyConsistent)
    }
}
