/// The 64-bit `user_data` every submission carries, and its completion returns.
///
/// Layout (most significant bit first):
///
///     63        56 55                    32 31                             0
///     +-----------+------------------------+--------------------------------+
///     |   kind    |       generation       |             index              |
///     +-----------+------------------------+--------------------------------+
///
/// - `kind` (8 bits): which operation completed (accept, recv, send, timer, ...), chosen
///   by the layer that owns the ring; 0 is reserved for "ignore".
/// - `generation` (24 bits): bumped each time `index` is reused, so a completion that
///   outlived its owner is recognised as stale.
/// - `index` (32 bits): a slot in the owner's table (a connection, a worker, a timer).
public struct UserData: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public static let generationBits = 24
    public static let generationMask: UInt32 = (1 << 24) - 1

    @inline(__always)
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    @inline(__always)
    public init(kind: UInt8, generation: UInt32 = 0, index: UInt32 = 0) {
        rawValue = UInt64(kind) << 56
            | UInt64(generation & Self.generationMask) << 32
            | UInt64(index)
    }

    @inline(__always) public var kind: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 56) }
    @inline(__always) public var generation: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) & Self.generationMask }
    @inline(__always) public var index: UInt32 { UInt32(truncatingIfNeeded: rawValue) }

    public var description: String { "UserData(kind: \(kind), generation: \(generation), index: \(index))" }
}
