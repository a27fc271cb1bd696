import CLiburing
import Glibc
import Logging
import URing

// The primary's event loop: one ring for everything the primary does. Signals arrive
// through a signalfd read, worker messages through recvmsg on each channel, connections
// through multishot accept (round-robin mode); hand-offs leave by sendmsg with SCM_RIGHTS,
// batched: every connection accepted in one turn for a worker leaves in one message.
//
// Connection bookkeeping, per worker: `pending` (chosen, not yet sent), `sending` (in the
// sendmsg in flight; at most one per channel, so messages keep their order), `unacked`
// (sent, not yet acknowledged). The primary keeps its copy of every descriptor until the
// worker acknowledges it, so a worker that dies or refuses loses no connection: they go
// to another worker.

/// The settings a primary runs with.
public struct PrimarySettings: Sendable {
    public var mode: DistributionMode = .roundRobin
    public var balance: BalancePolicy = .loadAware
    /// Worker slots on the shared board (the most workers at once).
    public var maxWorkers: Int = 256
    /// A listening socket to serve instead of creating one (`--listen-fd`, systemd).
    public var listenFD: Int32? = nil
    /// SIGKILL what is still running this long after SIGTERM at shutdown.
    public var shutdownTimeoutNanoseconds: UInt64 = 10_000_000_000
    public init() {}
}

enum PrimaryOperation: UInt8 {
    case signal = 1
    case accept = 2       // index: listener number
    case receive = 3      // index: worker slot
    case send = 4         // index: worker slot
    case close = 5
    case acceptRetry = 6  // index: listener number
    case shutdownTimer = 7
}

final class WorkerRecord {
    let worker: Worker
    var slot: Int { worker.id - 1 }
    var channel: Int32
    var listening = false
    var online = false
    let incoming = MessageBuffer()
    let outgoing = MessageBuffer()
    var sendInFlight = false
    var receiveArmed = false
    /// Messages other than hand-offs waiting to be sent (with at most one descriptor).
    var control: [([UInt8], Int32?)] = []
    var pending: [Int32] = []
    var sending: [Int32] = []
    var sendingIsHandoff = false
    var unacked: [Int32] = []
    var unackedHead = 0
    var received: [Int32] = []

    init(worker: Worker, channel: Int32) {
        self.worker = worker
        self.channel = channel
    }

    var unackedCount: Int { unacked.count - unackedHead }
}

public final class Primary {
    public let settings: PrimarySettings
    let ring: Ring
    let board: LoadBoard
    let logger: Logger
    var balancer: Balancer
    var records: [WorkerRecord?]
    var loads: [WorkerLoad]
    var dirty: [Int] = []
    /// One past the highest worker slot ever used: policies look at slots below it.
    var slotHighWater = 0
    /// Connections accepted while no worker could take them.
    var waiting: [Int32] = []
    let signalFD: Int32
    let signalInfo: UnsafeMutablePointer<signalfd_siginfo>
    let timers: UnsafeMutablePointer<__kernel_timespec>
    var listeners = ListenerRegistry()
    var acceptFDs: [Int32] = []
    var running = true
    var shuttingDown = false
    var lastAcceptErrorLog: UInt64 = 0

    // Node's events.
    var onFork: [(Worker) -> Void] = []
    var onOnline: [(Worker) -> Void] = []
    var onListening: [(Worker, UInt16) -> Void] = []
    var onDisconnect: [(Worker) -> Void] = []
    var onExit: [(Worker, ExitStatus) -> Void] = []
    var onMessage: [(Worker, [UInt8]) -> Void] = []

    public init(settings: PrimarySettings) throws(SystemError) {
        self.settings = settings
        logger = ClusterLogHandler.makeLogger(role: "Primary")
        ring = try Ring(entries: 1024)
        board = try LoadBoard(capacity: settings.maxWorkers)
        board.mode = settings.mode
        board.balance = settings.balance
        board.store(header: .primaryPID, Int(getpid()))
        balancer = Balancer(policy: settings.balance, seed: UInt64(getpid()) &* 0x9E37_79B9)
        records = Array(repeating: nil, count: settings.maxWorkers)
        loads = Array(repeating: WorkerLoad(eligible: false), count: settings.maxWorkers)
        if let fd = settings.listenFD { listeners.override = fd }

        // The signals the primary handles arrive on a signalfd (read on the ring), so they
        // are blocked for normal delivery. Workers get a clean mask (see Spawner).
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in [SIGCHLD, SIGINT, SIGTERM, SIGPIPE] { sigaddset(&mask, s) }
        pthread_sigmask(SIG_BLOCK, &mask, nil)
        signalFD = try syscall("signalfd") { signalfd(-1, &mask, Int32(SFD_CLOEXEC | SFD_NONBLOCK)) }
        signalInfo = .allocate(capacity: 1)
        timers = .allocate(capacity: 2)
        timers.initialize(repeating: __kernel_timespec(), count: 2)
    }

    deinit {
        signalInfo.deallocate()
        timers.deallocate()
    }

    /// Every worker the primary started, dead ones included.
    public var workers: [Worker] { records.compactMap { $0?.worker } }

    // MARK: - Forking

    /// Starts a worker process. Its events follow: online, listening, ... exit.
    @discardableResult
    public func fork(environment: [String: String] = [:]) throws(SystemError) -> Worker {
        guard let slot = records.firstIndex(where: { $0 == nil || $0!.worker.isDead }) else {
            throw SystemError("fork(all \(settings.maxWorkers) worker slots in use)", Errno(rawValue: EAGAIN))
        }
        let (mine, theirs) = try Channel.pair()
        let worker = Worker(id: slot + 1)
        worker.primary = self
        let pid: pid_t
        do throws(SystemError) {
            pid = try Spawner.spawnWorker(slot: slot, channel: theirs, board: board.fd, extraEnvironment: environment)
        } catch {
            close(mine)
            close(theirs)
            throw error
        }
        close(theirs)
        if records[slot] != nil { board.store(slot, .restarts, board.load(slot, .restarts) + 1) }
        worker.pid = pid
        worker.isConnected = true
        board.reset(slot, pid: pid)
        let record = WorkerRecord(worker: worker, channel: mine)
        records[slot] = record
        slotHighWater = max(slotHighWater, slot + 1)
        loads[slot] = WorkerLoad(eligible: false)
        logger.debug("Worker \(pid) forked (id \(worker.id))")
        for f in onFork { f(worker) }
        armReceive(record)
        return worker
    }

    // MARK: - The loop

    /// Runs until every worker has exited (after a shutdown, or on their own).
    public func run() throws(SystemError) {
        armSignalRead()
        while running {
            try ring.submitAndWait(1)
            ring.drainCompletions { ud, result, flags in
                self.complete(UserData(rawValue: ud), result, flags)
            }
            flushHandoffs()
            if !records.contains(where: { $0 != nil && !$0!.worker.isDead }) { running = false }
        }
        ring.submit()
    }

    func complete(_ ud: UserData, _ result: Int32, _ flags: UInt32) {
        switch PrimaryOperation(rawValue: ud.kind) {
        case .signal: signalArrived(result)
        case .accept: accepted(listener: Int(ud.index), result, flags)
        case .receive: if let r = records[Int(ud.index)] { received(r, result) }
        case .send: if let r = records[Int(ud.index)] { sent(r, result) }
        case .acceptRetry: armAccept(Int(ud.index))
        case .shutdownTimer: forceKill()
        case .close, nil: break
        }
    }

    // MARK: - Signals

    func armSignalRead() {
        let sqe = ring.sqe()
        io_uring_prep_read(sqe, signalFD, signalInfo, UInt32(MemoryLayout<signalfd_siginfo>.size), 0)
        io_uring_sqe_set_data64(sqe, UserData(kind: PrimaryOperation.signal.rawValue).rawValue)
    }

    func signalArrived(_ result: Int32) {
        if result == Int32(MemoryLayout<signalfd_siginfo>.size) {
            switch Int32(signalInfo.pointee.ssi_signo) {
            case SIGCHLD: reapChildren()
            case SIGINT, SIGTERM: shutdown(reason: "signal \(signalInfo.pointee.ssi_signo)")
            default: break
            }
        }
        armSignalRead()
    }

    /// Collects every exited worker (one SIGCHLD may stand for several).
    func reapChildren() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            guard let record = records.first(where: { $0?.worker.pid == pid && !$0!.worker.isDead }) ?? nil else { continue }
            workerExited(record, ExitStatus(waitStatus: status))
        }
    }

    func workerExited(_ record: WorkerRecord, _ status: ExitStatus) {
        let worker = record.worker
        worker.isDead = true
        record.listening = false
        loads[record.slot].eligible = false
        board.store(record.slot, .state, WorkerState.dead.rawValue)
        if worker.exitedAfterDisconnect || shuttingDown {
            logger.debug("Worker \(worker.pid) exited: \(status)")
        } else {
            logger.notice("worker \(worker.pid) died: \(status)")
        }
        // Every connection it had not acknowledged goes to another worker.
        redeliver(record.pending)
        record.pending.removeAll()
        redeliver(Array(record.unacked[record.unackedHead...]))
        record.unacked.removeAll()
        record.unackedHead = 0
        for (_, fd) in record.control { if let fd, listeners.isOwned(fd) == false { close(fd) } }
        record.control.removeAll()
        if record.worker.isConnected { channelClosed(record) }
        for f in onExit { f(worker, status) }
    }

    /// Stops accepting, asks every worker to stop, and kills what remains after the timeout.
    public func shutdown(reason: String) {
        guard !shuttingDown else { return }
        shuttingDown = true
        logger.debug("shutting down (\(reason))")
        for fd in acceptFDs {
            let sqe = ring.sqe()
            io_uring_prep_cancel_fd(sqe, fd, 0)
            io_uring_sqe_set_data64(sqe, UserData(kind: PrimaryOperation.close.rawValue).rawValue)
        }
        for record in records.compactMap({ $0 }) where !record.worker.isDead {
            record.worker.exitedAfterDisconnect = true
            kill(record.worker.pid, SIGTERM)
        }
        for fd in waiting { close(fd) }
        waiting.removeAll()
        let t = settings.shutdownTimeoutNanoseconds
        timers[0] = __kernel_timespec(tv_sec: Int64(t / 1_000_000_000), tv_nsec: Int64(t % 1_000_000_000))
        let sqe = ring.sqe()
        io_uring_prep_timeout(sqe, timers, 0, 0)
        io_uring_sqe_set_data64(sqe, UserData(kind: PrimaryOperation.shutdownTimer.rawValue).rawValue)
    }

    func forceKill() {
        for record in records.compactMap({ $0 }) where !record.worker.isDead {
            logger.notice("worker \(record.worker.pid) still running after the shutdown timeout: SIGKILL")
            kill(record.worker.pid, SIGKILL)
        }
    }
}
