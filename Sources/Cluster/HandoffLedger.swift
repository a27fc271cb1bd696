import DequeModule
import URing

// Round-robin mode's promise, "a connection the primary accepted is never lost", is kept
// by this bookkeeping, pure and tested alone (HandoffLedgerTests, with a property test over
// random event orders). The primary keeps its own copy of every descriptor it hands to a
// worker until the worker acknowledges it, so whatever happens to the worker, the primary
// can still give the connection to another one, or answer it 503.
//
// Per worker, a connection moves
//
//     pending ──sendmsg──▶ sending ──delivered──▶ unacknowledged ──acknowledged──▶ (closed here)
//        │                    │ not delivered          │ refused (worker at its descriptor limit)
//        └─ worker gone ──────┴────────────────────────┴──▶ back to the primary, to route again
//
// and a connection no worker can take waits in `WaitingConnections`, bounded in number and
// in time, then is answered 503. A connection keeps the time it was accepted through every
// move, so `--queue-timeout` bounds its whole stay, refusals and re-routing included.
//
// Acknowledgements are positions, not messages: the worker publishes on the shared board
// how many hand-off positions (descriptors sent to it, taken or refused) it has dealt with.
//
// Two ways to send. By SCM_RIGHTS (`startSending`), a message carries up to 253, and its
// descriptors take the next positions in message order. Through the ring (MSG_RING, one
// per connection, `startSendingEach`), there are no positions: a success posts no
// completion to the primary (IOSQE_CQE_SKIP_SUCCESS, so the primary is not woken once
// more per connection), and the kernel may install a batch in any order. Each connection
// stays in `sending` until the worker acknowledges it by name (the primary's slot, which
// the worker's completion carries and the worker publishes on the board:
// `acknowledgeEach`), or its MSG_RING fails (the worker's table is full, or the worker is
// gone: `sentEach`), or the worker dies (`workerGone`: nothing it did not acknowledge
// was served there).

/// A connection the primary accepted and holds a descriptor of.
struct HeldConnection: Equatable, Sendable {
    /// The primary's descriptor of it: direct when hand-offs go through the ring.
    let file: Descriptor
    /// When the primary accepted it (monotonic ns).
    let acceptedAt: UInt64
    /// Workers that refused it so far.
    var refusals = 0
    /// For ip-hash, the client's hash once known (a PROXY header's client, read by a peek);
    /// nil: the peer's, asked when it is routed.
    var clientHash: UInt64? = nil
}

/// One worker's share of the hand-off bookkeeping (it lives in the worker's record, so a
/// late completion for a dead worker never touches its replacement's).
struct HandoffLedger {
    /// Chosen for this worker, not yet sent.
    private(set) var pending = Deque<HeldConnection>()
    /// In the hand-off message in flight (at most one per channel, so messages keep order),
    /// or, through the ring, every connection whose MSG_RING has not completed.
    private(set) var sending: [HeldConnection] = []
    /// Delivered, not yet acknowledged, in hand-off order; nil where a refused one was taken back.
    private(set) var unacknowledged = Deque<HeldConnection?>()
    /// The hand-off position of `unacknowledged.first`.
    private(set) var acknowledgedPosition = 0
    /// Refusal messages handled (published for the worker, which then lets its position pass them).
    private(set) var refusalsHandled = 0
    /// When the oldest unacknowledged hand-off was delivered (0: none outstanding).
    private(set) var unacknowledgedSince: UInt64 = 0
    /// A worker that refused connections gets none until then (0: not backing off).
    private(set) var refusedUntil: UInt64 = 0
    private(set) var refusalStreak = 0

    static let firstRefusalBackoffNanoseconds: UInt64 = 10_000_000
    static let maxRefusalBackoffNanoseconds: UInt64 = 1_000_000_000

    /// Connections this worker was given and has not acknowledged.
    var outstanding: Int { pending.count + sending.count + unacknowledged.count }
    var isSending: Bool { !sending.isEmpty }

    mutating func assign(_ c: HeldConnection) {
        pending.append(c)
    }

    /// Moves up to `max` pending connections into the message about to be sent; their
    /// descriptors go into `fds` (replaced). Nothing if a hand-off is already in flight.
    mutating func startSending(max: Int, into fds: inout [Int32]) {
        fds.removeAll(keepingCapacity: true)
        guard sending.isEmpty, !pending.isEmpty else { return }
        let n = min(max, pending.count)
        for _ in 0..<n {
            let c = pending.removeFirst()
            sending.append(c)
            fds.append(c.file.value)
        }
    }

    /// Through the ring: every pending connection goes now, each by its own MSG_RING. Their
    /// descriptors go into `files` (replaced).
    mutating func startSendingEach(into files: inout [Descriptor], now: UInt64) {
        files.removeAll(keepingCapacity: true)
        if sending.isEmpty && unacknowledged.isEmpty && !pending.isEmpty { unacknowledgedSince = now }
        while let c = pending.popFirst() {
            sending.append(c)
            files.append(c.file)
        }
    }

    /// Through the ring: the MSG_RING of `file` failed; the connection is returned, to be
    /// routed elsewhere (with `refused`, the worker's table was full: it backs off as after
    /// a refusal). Nil when `file` is not in flight (the worker's exit already took it back).
    mutating func sentEach(_ file: Descriptor, refused: Bool, now: UInt64) -> HeldConnection? {
        guard let i = sending.firstIndex(where: { $0.file == file }) else { return nil }
        var c = sending.remove(at: i)
        if sending.isEmpty && unacknowledged.isEmpty { unacknowledgedSince = 0 }
        if refused {
            c.refusals += 1
            // One back-off for a whole batch the full table refused, not one per connection.
            if !isBackingOff(now: now) { backOff(now: now) }
        }
        return c
    }

    /// Through the ring: the worker has adopted `file` (named by the primary's slot): the
    /// primary's copy is closed. False for a name not in flight (not expected).
    @discardableResult
    mutating func acknowledgeEach(_ file: Descriptor, now: UInt64, closing: inout [Descriptor]) -> Bool {
        guard let i = sending.firstIndex(where: { $0.file == file }) else { return false }
        sending.remove(at: i)
        closing.append(file)
        refusalStreak = 0
        unacknowledgedSince = sending.isEmpty && unacknowledged.isEmpty ? 0 : now
        return true
    }

    /// The hand-off message completed. Delivered: its connections wait for acknowledgement.
    /// Not delivered: they are returned, to be routed elsewhere.
    mutating func sendCompleted(delivered: Bool, now: UInt64) -> [HeldConnection] {
        guard delivered else {
            let batch = sending
            sending = []
            return batch
        }
        // Moved without a copy of `sending`: emptying an array whose buffer a copy shares
        // allocates a new one, which was one allocation per hand-off message.
        if unacknowledged.isEmpty && !sending.isEmpty { unacknowledgedSince = now }
        for c in sending { unacknowledged.append(c) }
        sending.removeAll(keepingCapacity: true)
        return []
    }

    /// The worker has dealt with every hand-off position below `processed`: the primary's
    /// copies of those connections are closed (returned here).
    mutating func acknowledge(upTo processed: Int, now: UInt64, closing: inout [Descriptor]) {
        var progressed = false
        while acknowledgedPosition < processed, let first = unacknowledged.first {
            unacknowledged.removeFirst()
            acknowledgedPosition += 1
            progressed = true
            if let c = first {
                closing.append(c.file)
                refusalStreak = 0  // it took a connection again
            }
        }
        // Passing refused positions is progress too: the worker's loop is turning.
        if progressed { unacknowledgedSince = unacknowledged.isEmpty ? 0 : now }
    }

    /// The worker could not take `count` connections from hand-off `position` on (its
    /// descriptor limit). They come back, to be routed elsewhere; the worker gets no new
    /// connection for a while, longer with each refusal in a row (10 ms doubling, at most 1 s).
    mutating func refuse(position: Int, count: Int, now: UInt64) -> [HeldConnection] {
        var back: [HeldConnection] = []
        let start = max(position, acknowledgedPosition)
        let end = min(position + max(0, count), acknowledgedPosition + unacknowledged.count)
        if start < end {
            for p in start..<end {
                let i = p - acknowledgedPosition
                if var c = unacknowledged[i] {
                    c.refusals += 1
                    back.append(c)
                    unacknowledged[i] = nil
                }
            }
        }
        refusalsHandled += 1
        backOff(now: now)
        return back
    }

    /// No new connection for a while, longer with each refusal in a row.
    mutating func backOff(now: UInt64) {
        let shift = UInt64(min(refusalStreak, 7))
        refusedUntil = now &+ min(Self.maxRefusalBackoffNanoseconds, Self.firstRefusalBackoffNanoseconds << shift)
        refusalStreak += 1
    }

    /// Whether the worker is backing off after a refusal.
    func isBackingOff(now: UInt64) -> Bool { now < refusedUntil }

    /// The worker is gone. What it acknowledged before dying (its final published
    /// position) is closed, not redelivered: it had adopted those connections, and a second
    /// worker must never serve them. Everything else comes back.
    ///
    /// Through the ring, every connection the worker did not name comes back too (its name
    /// was read from the board just before): the worker adopts a hand-off only once its
    /// name is published, so one it did not name it never served, wherever its MSG_RING got.
    mutating func workerGone(finalPosition: Int, now: UInt64, closing: inout [Descriptor]) -> [HeldConnection] {
        acknowledge(upTo: finalPosition, now: now, closing: &closing)
        var back = sending
        back += pending
        back += unacknowledged.compactMap { $0 }
        pending.removeAll()
        sending.removeAll()
        unacknowledged.removeAll()
        unacknowledgedSince = 0
        return back
    }
}

/// Connections no worker could take yet, oldest first, bounded in number and in time.
struct WaitingConnections {
    let limit: Int
    let timeoutNanoseconds: UInt64
    private(set) var queue = Deque<HeldConnection>()

    init(limit: Int, timeoutNanoseconds: UInt64) {
        self.limit = limit
        self.timeoutNanoseconds = timeoutNanoseconds
    }

    var isEmpty: Bool { queue.isEmpty }
    var count: Int { queue.count }

    /// Whether a connection has waited, in all, longer than it may.
    func hasExpired(_ c: HeldConnection, now: UInt64) -> Bool {
        now > c.acceptedAt && now - c.acceptedAt > timeoutNanoseconds
    }

    /// Queues `c`; false when the queue is full or `c` has waited too long (answer it 503).
    mutating func wait(_ c: HeldConnection, now: UInt64) -> Bool {
        guard queue.count < limit, !hasExpired(c, now: now) else { return false }
        queue.append(c)
        return true
    }

    /// Takes the connections that waited too long. A connection routed again after a
    /// refusal queues behind younger ones, so the whole queue is looked at (it is short).
    mutating func expired(now: UInt64) -> [HeldConnection] {
        guard queue.contains(where: { hasExpired($0, now: now) }) else { return [] }
        var out: [HeldConnection] = []
        var keep = Deque<HeldConnection>()
        for c in queue {
            if hasExpired(c, now: now) { out.append(c) } else { keep.append(c) }
        }
        queue = keep
        return out
    }

    /// Takes everything, to route again.
    mutating func takeAll() -> [HeldConnection] {
        // Not Array(queue) on an empty queue: that writes the count of the shared empty-array
        // storage, which ThreadSanitizer reports as a race between unrelated threads.
        guard !queue.isEmpty else { return [] }
        let all = Array(queue)
        queue.removeAll()
        return all
    }
}
