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
    /// The client's address, once the kernel told it (`.askPeerName`); nil until then, or
    /// when it is not an IP address (a Unix socket) or not asked for.
    var client: ClientAddress?
    /// Where the kernel writes the peer's sockaddr (28 bytes: a sockaddr_in6), and how many
    /// bytes were asked for.
    var peerName: (UInt64, UInt64, UInt64, UInt32) = (0, 0, 0, 0)
    var peerNameAsked: UInt32 = 0

    init(lifecycle: ConnectionLifecycle) {
        self.lifecycle = lifecycle
    }

    // The stable address of the output buffer, which a ResponseWriter appends to while the
    // slot stays in place (the table never moves), without the temporary that
    // `&slot.field` may be.
    static let outputOffset = MemoryLayout<ConnectionSlot>.offset(of: \.lifecycle.output)!

    static let peerNameOffset = MemoryLayout<ConnectionSlot>.offset(of: \.peerName)!

    static func peerName(of slot: UnsafeMutablePointer<ConnectionSlot>) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(slot) + peerNameOffset
    }

    static func output(of slot: UnsafeMutablePointer<ConnectionSlot>) -> UnsafeMutablePointer<RawBuffer> {
        (UnsafeMutableRawPointer(slot) + outputOffset)
            .assumingMemoryBound(to: RawBuffer.self)
    }
}
