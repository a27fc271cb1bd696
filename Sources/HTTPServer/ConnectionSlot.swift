import CLiburing
import HTTP1

/// One entry of the loop's connection table: the descriptor, the generation that tells its
/// completions from those of an earlier connection in the same slot, and the connection's
/// lifecycle (ConnectionLifecycle, which owns every rule of its life). A plain struct with
/// no references, kept in a flat table that never moves, so the loop updates it in place
/// without ARC and the kernel can read its timer and buffers while operations are in flight.
struct ConnectionSlot {
    var fd: Int32 = -1
    /// Bumped on reuse; part of every user_data for this slot.
    var generation: UInt32 = 0
    var lifecycle: ConnectionLifecycle
    /// The delay's timer value: the kernel reads it when the timeout is submitted.
    var timer = __kernel_timespec()

    init(lifecycle: ConnectionLifecycle) {
        self.lifecycle = lifecycle
    }

    // Stable addresses of fields the kernel or a ResponseWriter uses while the slot stays
    // in place (the table never moves), without the temporary that `&slot.field` may be.
    static let outputOffset = MemoryLayout<ConnectionSlot>.offset(of: \.lifecycle.output)!
    static let timerOffset = MemoryLayout<ConnectionSlot>.offset(of: \.timer)!

    static func output(of slot: UnsafeMutablePointer<ConnectionSlot>) -> UnsafeMutablePointer<RawBuffer> {
        (UnsafeMutableRawPointer(slot) + outputOffset)
            .assumingMemoryBound(to: RawBuffer.self)
    }

    static func timer(of slot: UnsafeMutablePointer<ConnectionSlot>) -> UnsafeMutablePointer<__kernel_timespec> {
        (UnsafeMutableRawPointer(slot) + timerOffset)
            .assumingMemoryBound(to: __kernel_timespec.self)
    }
}
