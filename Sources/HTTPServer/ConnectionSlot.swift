import CLiburing
import HTTP1

/// One entry of the loop's connection table. A plain struct with no references, kept in
/// a flat table that never moves, so the loop updates it in place without ARC and the
/// kernel can read timers and buffers from it while operations are in flight.
struct ConnectionSlot {
    enum State: UInt8 {
        case free
        case open
        /// Our last response is sent and our side shut down; reading until the peer closes.
        case lingering
        /// close submitted; waiting for every in-flight operation before reuse.
        case closing
    }

    var state: State = .free
    var fd: Int32 = -1
    /// Bumped on reuse; part of every user_data for this slot.
    var generation: UInt32 = 0
    /// Operations submitted and not yet completed (a multishot recv counts once).
    var inflight: Int32 = 0
    var receiveArmed = false
    var sending = false
    /// The peer closed its sending side (recv returned 0).
    var readClosed = false
    /// Close once everything queued is sent.
    var closeAfterSend = false
    /// A delayed response is waiting for its timer.
    var delayed = false
    var delayKeepAlive = false
    var delayConsumed = 0
    var lingerDeadline: UInt64 = 0
    /// A send in flight that makes no progress by then closes the connection.
    var sendDeadline: UInt64 = 0

    var machine: HTTPConnectionStateMachine
    /// Received bytes not yet consumed by a request.
    var input = RawBuffer()
    /// Responses waiting to be sent.
    var output = RawBuffer()
    /// The bytes of the send in flight (swapped with `output`, so appending never moves them).
    var flight = RawBuffer()
    var flightOffset = 0
    /// A delayed response, held until its timer fires.
    var held = RawBuffer()
    /// The delay's timer value: the kernel reads it at submission.
    var timer = __kernel_timespec()

    init(machine: HTTPConnectionStateMachine) {
        self.machine = machine
    }

    // Stable addresses of fields the kernel or a ResponseWriter uses while the slot stays
    // in place (the table never moves), without the temporary that `&slot.field` may be.
    static let outputOffset = MemoryLayout<ConnectionSlot>.offset(of: \.output)!
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
