/// What to do after a multishot accept ended with an error, for the worker's loop and the
/// primary's alike. Any error ends a multishot accept (no IORING_CQE_F_MORE), and
/// re-arming at once on a condition that persists (the descriptor limit, no memory, no
/// buffers) spins the loop; so every error waits before the accept is armed again: 1 ms
/// after the first, doubling with each error in a row, at most 100 ms, and back to the
/// start after an accepted connection. A transient error (a client gone before its accept)
/// thus costs a millisecond, a persistent one ten wake-ups a second.
public struct AcceptBackoff: Sendable, Equatable {
    public static let firstDelayNanoseconds: UInt64 = 1_000_000
    public static let maxDelayNanoseconds: UInt64 = 100_000_000

    /// Errors in a row since the last accepted connection.
    public private(set) var consecutiveErrors = 0

    public init() {}

    /// An accept failed: how long to wait before arming it again.
    public mutating func failed() -> UInt64 {
        consecutiveErrors += 1
        let shift = min(consecutiveErrors - 1, 7)
        return min(Self.maxDelayNanoseconds, Self.firstDelayNanoseconds << UInt64(shift))
    }

    /// A connection was accepted: the next error starts over.
    public mutating func succeeded() {
        consecutiveErrors = 0
    }
}
