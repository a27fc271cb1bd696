import CLiburing
import Glibc
import HTTPServer
import URing

/// The worker's end of its channel, run on the worker's HTTP ring as a LoopExtension:
/// receives hand-offs (adopting every descriptor) and user messages, acknowledges what it
/// took once per turn, and publishes the worker's load to the shared board once per turn.
final class WorkerChannel: LoopExtension {
    enum Operation: UInt8 {
        case receive = 128
        case send = 129
    }

    let fd: Int32
    let board: LoadBoard?
    let slot: Int
    let incoming = MessageBuffer()
    let outgoing = MessageBuffer()
    var ring: Ring!
    weak var server: (any ConnectionAdopting)?
    var descriptors: [Int32] = []
    /// Replies owed to the primary, in hand-off order: (refused?, count). The primary's
    /// queue is in that order too, so an acknowledgement must never overtake a refusal.
    var replies: [(refused: Bool, count: Int)] = []
    var sendInFlight = false
    /// User messages waiting to be sent to the primary.
    var queued: [[UInt8]] = []
    var onMessage: (([UInt8]) -> Void)?

    init(fd: Int32, board: LoadBoard?, slot: Int) {
        self.fd = fd
        self.board = board
        self.slot = slot
    }

    func start(ring: Ring, server: any ConnectionAdopting) {
        self.ring = ring
        self.server = server
        armReceive()
    }

    func armReceive() {
        incoming.prepareReceive()
        let sqe = ring.sqe()
        io_uring_prep_recvmsg(sqe, fd, incoming.header, UInt32(MSG_CMSG_CLOEXEC))
        io_uring_sqe_set_data64(sqe, UserData(kind: Operation.receive.rawValue).rawValue)
    }

    func complete(_ userData: UserData, result: Int32, flags: UInt32) {
        switch Operation(rawValue: userData.kind) {
        case .receive: received(result)
        case .send:
            sendInFlight = false
            if result < 0 { server?.stop() }
        case nil: break
        }
    }

    func received(_ result: Int32) {
        guard result > 0 else {
            // The primary closed the channel or is gone: finish what is in progress and leave.
            server?.drain()
            return
        }
        incoming.receivedDescriptors(into: &descriptors)
        let message = ClusterMessage.decode(UnsafeRawBufferPointer(start: incoming.data, count: Int(result)))
        switch message {
        case .handoff(let count):
            for d in descriptors { server?.adopt(d) }
            owe(refused: false, descriptors.count)
            // Descriptors beyond our RLIMIT_NOFILE were dropped by the kernel (MSG_CTRUNC):
            // they are the message's last ones; tell the primary, which still holds them, so
            // it routes them elsewhere.
            owe(refused: true, Int(count) - descriptors.count)
        case .drain:
            for d in descriptors { close(d) }
            server?.drain()
        case .userFromPrimary(let bytes):
            for d in descriptors { close(d) }
            onMessage?(bytes)
        default:
            for d in descriptors { close(d) }
        }
        armReceive()
    }

    func owe(refused: Bool, _ count: Int) {
        guard count > 0 else { return }
        if let last = replies.last, last.refused == refused {
            replies[replies.count - 1].count += count
        } else {
            replies.append((refused, count))
        }
    }

    /// Queues a user message to the primary (sent at the end of the turn).
    func send(_ bytes: [UInt8]) {
        queued.append(ClusterMessage.userFromWorker(bytes).encoded())
    }

    func turnEnded() {
        if let board, let server {
            let c = server.counters
            board.store(slot, .connections, c.connections)
            board.store(slot, .active, c.active)
            board.store(slot, .inflight, c.inflight)
            board.store(slot, .requests, c.requests)
            // CLOCK_MONOTONIC is one clock for every process: the primary compares directly.
            board.store(slot, .heartbeat, Int(monotonicNanoseconds() / 1_000_000))
        }
        guard !sendInFlight else { return }
        var length = 0
        if !replies.isEmpty {
            let reply = replies.removeFirst()
            if reply.refused {
                length = outgoing.load(ClusterMessage.refused(count: UInt32(reply.count)).encoded())
            } else {
                length = ClusterMessage.writeAcknowledged(count: UInt32(reply.count), into: outgoing.data)
            }
        } else if !queued.isEmpty {
            length = outgoing.load(queued.removeFirst())
        } else {
            return
        }
        let sqe = ring.sqe()
        io_uring_prep_send(sqe, fd, outgoing.data, length, Int32(MSG_NOSIGNAL))
        io_uring_sqe_set_data64(sqe, UserData(kind: Operation.send.rawValue).rawValue)
        sendInFlight = true
    }
}

/// /stats and /metrics of a cluster: every worker's line of the shared board.
final class BoardStats: StatsSource {
    let board: LoadBoard
    /// The asking worker's slot: its own line comes from its live counters, not the board
    /// (which it publishes at the end of each turn).
    let slot: Int

    init(board: LoadBoard, slot: Int) {
        self.board = board
        self.slot = slot
    }

    func snapshot(local: ServerCounters) -> StatsSnapshot {
        var workers: [WorkerStats] = []
        for slot in 0..<board.capacity {
            let state = board.load(slot, .state)
            guard state == WorkerState.listening.rawValue || state == WorkerState.starting.rawValue else { continue }
            if slot == self.slot {
                workers.append(WorkerStats(id: slot + 1, pid: local.pid, connections: local.connections, active: local.active,
                                           requests: local.requests, restarts: board.load(slot, .restarts)))
                continue
            }
            workers.append(WorkerStats(id: slot + 1, pid: Int32(board.load(slot, .pid)),
                                       connections: board.load(slot, .connections), active: board.load(slot, .active),
                                       requests: board.load(slot, .requests), restarts: board.load(slot, .restarts)))
        }
        return StatsSnapshot(mode: board.mode.rawValue, balance: board.balance.rawValue, workers: workers)
    }
}
