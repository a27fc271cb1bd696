import Glibc
import URing

/// The primary's bookkeeping for one worker process: its channel, its messages, its
/// hand-offs (HandoffLedger) and its place in supervision (readiness, drain, restarts).
final class WorkerRecord {
    // Touched by the primary's loop thread only: no run-time exclusivity checks (Primary).
    let worker: Worker
    var slot: Int { worker.id - 1 }
    @exclusivity(unchecked) var channel: Int32
    @exclusivity(unchecked) var listening = false
    let incoming = MessageBuffer(dataCapacity: ClusterMessage.maxSize)
    let outgoing = MessageBuffer(dataCapacity: ClusterMessage.maxSize)
    @exclusivity(unchecked) var sendInFlight = false
    @exclusivity(unchecked) var receiveArmed = false
    /// Messages other than hand-offs waiting to be sent (with at most one descriptor).
    @exclusivity(unchecked) var control: [([UInt8], Int32?)] = []
    /// The connections handed to this worker and not yet acknowledged (HandoffLedger).
    @exclusivity(unchecked) var handoffs = HandoffLedger()
    /// The descriptors of the hand-off message in flight (or, through the ring, of this
    /// turn's MSG_RINGs: scratch).
    @exclusivity(unchecked) var sendingFDs: [Int32] = []
    @exclusivity(unchecked) var sendingFiles: [Descriptor] = []
    @exclusivity(unchecked) var sendingIsHandoff = false
    /// A descriptor a user message carries (`Worker.send(_:descriptor:)`): the primary's
    /// copy, closed once the message has gone (or could not).
    @exclusivity(unchecked) var sendingUserDescriptor: Int32? = nil
    @exclusivity(unchecked) var received: [Int32] = []
    /// The worker's ring, reached through pidfd_getfd (hand-offs through the ring); -1 if none.
    @exclusivity(unchecked) var ringFD: Int32 = -1
    let environment: [String: String]
    let spawnedAt: UInt64
    @exclusivity(unchecked) var readyAt: UInt64 = 0
    /// Asked to drain: gets no new connections; the drain message leaves after any pending hand-off.
    @exclusivity(unchecked) var draining = false
    @exclusivity(unchecked) var drainQueued = false
    /// The worker this one replaces in a rolling restart.
    @exclusivity(unchecked) var replacing: WorkerRecord?
    /// Distinguishes this record's channel completions from those of an earlier record in
    /// the same slot (the `generation` of their UserData).
    let serial: UInt32
    /// When it was asked to drain (for the drain timeout).
    @exclusivity(unchecked) var drainStartedAt: UInt64 = 0
    /// A respawn of this slot is scheduled: fork() must not take the slot meanwhile.
    @exclusivity(unchecked) var respawnScheduled = false

    init(worker: Worker, channel: Int32, environment: [String: String], now: UInt64, serial: UInt32) {
        self.worker = worker
        self.channel = channel
        self.environment = environment
        self.spawnedAt = now
        self.serial = serial & UserData.generationMask
    }

    /// The kernel may still use its channel buffers: it must outlive its slot.
    var hasOperationsInFlight: Bool { sendInFlight || receiveArmed }
}
