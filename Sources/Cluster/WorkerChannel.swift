import Glibc
import HTTPServer
import URing

/// The worker's end of its channel, run on the worker's HTTP ring as a LoopExtension:
/// receives hand-offs (by message, or straight into the ring's file table: one completion
/// each, no system call) and user messages, and once per turn publishes the worker's load
/// and its acknowledgement position (messages) or the names it adopted (the ring) to the
/// shared board.
final class WorkerChannel: LoopExtension {
    // Touched by the worker's loop thread only: no run-time exclusivity checks (HTTPServer).
    enum Operation: UInt8 {
        case receive = 128
        case send = 129
        case signal = 130
        /// A connection the primary installed in this ring's file table (MSG_RING); the
        /// completion's result is its slot.
        case handoff = 131
    }

    let fd: Int32
    /// The stop signals (SIGTERM and SIGINT), read on the ring (opened by `Cluster.serve`);
    /// nil when a host owns them and stops the worker with `Cluster.shutdown()`.
    let signals: SignalReader?
    /// The channel to the primary broke or ended: no one will tell this worker to drain.
    @exclusivity(unchecked) var primaryGone = false
    let board: LoadBoard?
    let slot: Int
    let incoming = MessageBuffer(dataCapacity: ClusterMessage.maxSize)
    let outgoing = MessageBuffer(dataCapacity: ClusterMessage.maxSize)
    @exclusivity(unchecked) var ring: Ring!
    weak var server: (any ConnectionAdopting)?
    @exclusivity(unchecked) var descriptors: [Int32] = []
    /// Which hand-offs this worker adopts or refuses, and the position it publishes.
    @exclusivity(unchecked) var intake = HandoffIntake()
    /// Refusal messages to send, in order (confirmations are counted, so order matters),
    /// before any user message.
    @exclusivity(unchecked) var refusals: [[UInt8]] = []
    /// Hand-offs through the ring not yet named on the board (the primary's slots), and
    /// the slots they have in this ring's table, in the same order: adopted once named.
    @exclusivity(unchecked) var acknowledgements: [UInt32] = []
    @exclusivity(unchecked) var unnamed: [Int32] = []
    @exclusivity(unchecked) var sendInFlight = false
    /// User messages waiting to be sent to the primary.
    @exclusivity(unchecked) var queued: [[UInt8]] = []
    /// User messages that carry a descriptor (`Worker.send(_:descriptor:)` in a worker),
    /// sent after `queued` with sendmsg; this worker's copy is closed once sent.
    @exclusivity(unchecked) var queuedWithDescriptor: [(bytes: [UInt8], descriptor: Int32)] = []
    @exclusivity(unchecked) var sendingDescriptor: Int32? = nil
    /// A user message from the primary, with the descriptor it carried (its owner now).
    @exclusivity(unchecked) var onMessage: (([UInt8], Int32?) -> Void)?
    /// Requests to the primary awaiting their reply (RequestTable).
    @exclusivity(unchecked) var requests = RequestTable()
    @exclusivity(unchecked) var now: UInt64 = 0

    init(fd: Int32, signals: SignalReader?, board: LoadBoard?, slot: Int) {
        self.fd = fd
        self.signals = signals
        self.board = board
        self.slot = slot
    }

    func start(ring: Ring, server: any ConnectionAdopting) {
        self.ring = ring
        self.server = server
        armReceive()
        armSignalRead()
    }

    func armSignalRead() {
        signals?.arm(ring, userData: UserData(kind: Operation.signal.rawValue))
    }

    func signalArrived(_ c: Completion) {
        if signals?.signal(in: c) != nil { leave() }
        armSignalRead()
    }

    /// SIGTERM or SIGINT reached this worker, or `Cluster.shutdown()` was called in it. The
    /// primary decides (it drains the whole cluster when the signal went to all of it, or
    /// replaces this worker alone); without a primary, the worker drains by itself. Either
    /// way nothing in flight is cut.
    func leave() {
        if primaryGone {
            server?.drain(sweepingListeners: true)
        } else {
            queued.append(ClusterMessage.leaving.encoded())
        }
    }

    func armReceive() {
        ring.receiveMessage(fd, incoming, userData: UserData(kind: Operation.receive.rawValue))
    }

    func complete(_ c: Completion) {
        switch Operation(rawValue: c.userData.kind) {
        case .receive: received(c.result)
        case .send:
            sendInFlight = false
            if let d = sendingDescriptor {
                closeDescriptor(d)
                sendingDescriptor = nil
            }
            if c.result < 0 {
                // The primary is gone: finish what is in progress and leave.
                lostPrimary()
            }
        case .signal: signalArrived(c)
        case .handoff:
            // Adopted at the end of the turn, once named back to the primary (its slot is the
            // user_data's index): were this worker to die before the name is on the board,
            // the primary gives the connection to another, which must find it untouched.
            guard c.result >= 0 else { break }
            if board == nil {
                server?.adopt(Descriptor(direct: c.result))  // no board, no acknowledgements to wait for
            } else {
                acknowledgements.append(c.userData.index)
                unnamed.append(c.result)
            }
        case nil: break
        }
    }

    func received(_ result: Int32) {
        guard result > 0 else {
            // The primary closed the channel or is gone: finish what is in progress and leave.
            lostPrimary()
            return
        }
        incoming.receivedDescriptors(into: &descriptors)
        let message = ClusterMessage.decode(UnsafeRawBufferPointer(start: incoming.data, count: Int(result)))
        switch message {
        case .handoff(let count):
            // Descriptors beyond our RLIMIT_NOFILE were dropped by the kernel (MSG_CTRUNC):
            // they are the message's last ones. Those, and everything while an earlier refusal
            // is unconfirmed (HandoffIntake), are refused: the primary still holds them and
            // routes them elsewhere.
            let decision = intake.received(count: Int(count), arrived: descriptors.count)
            for (k, d) in descriptors.enumerated() {
                if k < decision.adopt { server?.adopt(Descriptor(process: d)) } else { closeDescriptor(d) }
            }
            if let r = decision.refused {
                refusals.append(ClusterMessage.refused(position: UInt64(r.position), count: UInt32(r.count)).encoded())
            }
        case .drain(let sweep):
            for d in descriptors { closeDescriptor(d) }
            server?.drain(sweepingListeners: sweep)
        case .userFromPrimary(let bytes):
            for d in descriptors.dropFirst() { closeDescriptor(d) }
            if let onMessage { onMessage(bytes, descriptors.first) } else { descriptors.first.map(closeDescriptor) }
        case .reply(let id, let outcome, let payload):
            for d in descriptors { closeDescriptor(d) }
            requests.replied(id: id, outcome: outcome, payload: payload)
        default:
            for d in descriptors { closeDescriptor(d) }
        }
        armReceive()
    }

    /// Queues a user message to the primary (sent at the end of the turn).
    func send(_ bytes: [UInt8]) {
        queued.append(ClusterMessage.userFromWorker(bytes).encoded())
    }

    /// Sends a request to the primary; `continuation` gets the reply's payload, or the
    /// error that ended the wait. On the loop's thread.
    func request(id: UInt64, name: String, payload: [UInt8], timeoutNanoseconds: UInt64,
                 continuation: CheckedContinuation<[UInt8], any Error>) {
        if primaryGone {
            continuation.resume(throwing: ClusterRequestError.primaryGone)
            return
        }
        let (deadline, overflow) = now.addingReportingOverflow(timeoutNanoseconds)
        requests.add(id: id, deadline: overflow ? .max : deadline, continuation)
        queued.append(ClusterMessage.request(id: id, name: name, payload: payload).encoded())
    }

    func lostPrimary() {
        primaryGone = true
        for m in queuedWithDescriptor { closeDescriptor(m.descriptor) }
        queuedWithDescriptor.removeAll()
        requests.failAll(ClusterRequestError.primaryGone)
        server?.drain(sweepingListeners: true)
    }

    func turnStarted(now: UInt64) {
        self.now = now
        board?.store(slot, .turnStarted, Int(now / 1000))
    }

    func turnEnded() {
        requests.expire(now: now)
        if let board, let server {
            board.store(slot, .turnStarted, 0)
            let c = server.counters
            board.store(slot, .connections, c.connections)
            board.store(slot, .active, c.active)
            board.store(slot, .inflight, c.inflight)
            board.store(slot, .requests, c.requests)
            board.store(slot, .proxyRejects, c.proxyRejects)
            // CLOCK_MONOTONIC is one clock for every process: the primary compares directly.
            board.store(slot, .heartbeat, Int(monotonicNanoseconds() / 1_000_000))
            intake.confirmed(total: board.load(slot, .refusalsConfirmed))
            board.store(slot, .processed, intake.processed)
            let named = board.publishAcknowledgements(slot, &acknowledgements)
            if named > 0 {
                for k in 0..<named { server.adopt(Descriptor(direct: unnamed[k])) }
                unnamed.removeFirst(named)
            }
        }
        guard !sendInFlight else { return }
        let length: Int
        if !refusals.isEmpty {
            length = outgoing.load(refusals.removeFirst())
        } else if !queued.isEmpty {
            length = outgoing.load(queued.removeFirst())
        } else if !queuedWithDescriptor.isEmpty {
            let (bytes, descriptor) = queuedWithDescriptor.removeFirst()
            outgoing.prepareSend(bytes, descriptor: descriptor)
            sendingDescriptor = descriptor
            ring.sendMessage(fd, outgoing, userData: UserData(kind: Operation.send.rawValue))
            sendInFlight = true
            return
        } else {
            return
        }
        ring.send(fd, outgoing.data, count: length, userData: UserData(kind: Operation.send.rawValue))
        sendInFlight = true
    }
}
