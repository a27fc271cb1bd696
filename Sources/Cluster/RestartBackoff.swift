/// When to restart a worker that exited without being asked to, and when to give up.
/// Pure, so the schedule is tested without processes (as PM2 and gunicorn users expect:
/// quick successive crashes back off, a worker that ran healthily restarts at once, and a
/// program that cannot start at all makes the primary stop instead of looping forever).
public struct RestartBackoff: Sendable, Equatable {
    /// First delay, and the one used again after a healthy run. Default 100 ms.
    public var initialNanoseconds: UInt64 = 100_000_000
    /// Each quick crash multiplies the delay by this. Default 1.5.
    public var factor: Double = 1.5
    /// The longest delay. Default 15 s.
    public var capNanoseconds: UInt64 = 15_000_000_000
    /// A worker that was ready this long counts as healthy: the delay starts over. Default 30 s.
    public var healthyAfterNanoseconds: UInt64 = 30_000_000_000
    /// Workers that exit this many times in a row without ever becoming ready make the
    /// primary give up. Default 5.
    public var maxBootFailures: Int = 5

    var nextDelay: UInt64? = nil
    public private(set) var consecutiveBootFailures = 0

    public init() {}

    public enum Decision: Equatable, Sendable {
        case restart(afterNanoseconds: UInt64)
        case giveUp(bootFailures: Int)
    }

    /// A worker exited unexpectedly. `readyFor` is how long it had been ready (serving),
    /// nil if it never became ready.
    public mutating func workerExited(readyFor: UInt64?) -> Decision {
        if let readyFor {
            consecutiveBootFailures = 0
            if readyFor >= healthyAfterNanoseconds { nextDelay = nil }
        } else {
            consecutiveBootFailures += 1
            if consecutiveBootFailures >= maxBootFailures { return .giveUp(bootFailures: consecutiveBootFailures) }
        }
        let delay = nextDelay ?? initialNanoseconds
        nextDelay = min(capNanoseconds, UInt64(Double(delay) * factor))
        return .restart(afterNanoseconds: delay)
    }

    /// A worker became ready: boot failures are no longer "in a row".
    public mutating func workerBecameReady() {
        consecutiveBootFailures = 0
    }
}
