import Glibc
import URing

/// The primary's bookkeeping for one worker process: its channel, its messages, its
/// hand-offs (HandoffLedger) and its place in supervision (readiness, drain, restarts).
final class WorkerRecord {
    let worker: Worker
    var slot: Int { worker.id - 1 }
    var channel: Int32
    var listening = false
    let incoming = MessageBuffer(dataCapacity: ClusterMessage.maxSize)
    let outgoing = MessageBuffer(dataCapacity: ClusterMessage.maxSize)
    var sendInFlight = false
    var receiveArmed = false
    /// Messages other than hand-offs waiting to be sent (with at most one descriptor).
    var control: [([UInt8], Int32?)] = []
    /// The connections handed to this worker and not yet acknowledged (HandoffLedger).
    var handoffs = HandoffLedger()
    /// The descriptors of the hand-off message in flight (or, through the ring, of this
    /// turn's MSG_RINGs: scratch).
    var sendingFDs: [Int32] = []
    var sendingFiles: [Descriptor] = []
    var sendingIsHandoff = false
    var received: [Int32] = []
    /// The worker's ring, reached through pidfd_getfd (hand-offs through the ring); -1 if none.
    var ringFD: Int32 = -1
    let environment: [String: String]
    let spawnedAt: UInt64
    var readyAt: UInt64 = 0
    /// Asked to drain: gets no new connections; the drain message leaves after any pending hand-off.
    var draining = false
    var drainQueued = false
    /// The worker this one replaces in a rolling restart.
    var replacing: WorkerRecord?
    /// Distinguishes this record's channel completions from those of an earlier record in
    /// the same slot (the `generation` of their UserData).
    let serial: UInt32
    /// When it was asked to drain (for the drain timeout).
    var drainStartedAt: UInt64 = 0
    /// A respawn of this slot is scheduled: fork() must not take the slot meanwhile.
    var respawnScheduled = false

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
