import HTTP1
import URing

/// One entry of the loop's connection table: the descriptor (direct where the ring has a
/// file table), the generation that tells its
/// completions from those of an earlier connection in the same slot, and the connection's
/// lifecycle (ConnectionLifecycle, which owns every rule of its life). A plain struct with
/// no references, kept in a flat table that never moves, so the loop updates it in place
/// without ARC and the kernel can read its buffers while operations are in flight.
struct ConnectionSlot {
    var file = Descriptor.none
    /// Bumped on reuse; part of every user_data for this slot.
    var generation: UInt32 = 0
    var lifecycle: ConnectionLifecycle

    init(lifecycle: ConnectionLifecycle) {
        self.lifecycle = lifecycle
    }

    // The stable address of the output buffer, which a ResponseWriter appends to while the
    // slot stays in place (the table never moves), without the temporary that
    // `&slot.field` may be.
    static let outputOffset = MemoryLayout<ConnectionSlot>.offset(of: \.lifecycle.output)!

    static func output(of slot: UnsafeMutablePointer<ConnectionSlot>) -> UnsafeMutablePointer<RawBuffer> {
        (UnsafeMutableRawPointer(slot) + outputOffset)
            .assumingMemoryBound(to: RawBuffer.self)
    }
}
