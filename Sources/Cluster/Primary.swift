import Glibc
import HTTPServer
import Logging
import URing

// The primary's event loop: one ring for everything the primary does. Signals arrive
// through a signalfd read, worker messages through recvmsg on each channel, connections
// through multishot accept (round-robin mode). Hand-offs go through the ring where the
// kernel allows (HandoffPath.ring: accepted into the primary's file table, installed into
// the worker's with one MSG_RING each, all submitted with the turn's one system call), or
// by sendmsg with SCM_RIGHTS, batched: every connection accepted in one turn for a worker
// leaves in one message.
//
// Connection bookkeeping is HandoffLedger's (one per worker record) and WaitingConnections'
// (none could take them): the primary keeps its copy of every descriptor until the worker
// acknowledges it, so a worker that dies or refuses loses no connection. Acknowledgements
// come through the shared board (the worker's `processed` position), read at the end of
// every turn: no message, no wake-up.

public final class Primary {
    // Mutable state is `@exclusivity(unchecked)`: only the primary's loop thread touches it,
    // and Swift's run-time exclusivity checks (swift_beginAccess) came to 16 in route()
    // alone, once per connection, and about 35 per connection in all (as HTTPServer's).
    public let settings: PrimarySettings
    let ring: Ring
    let board: LoadBoard
    let logger: Logger
    @exclusivity(unchecked) var balancer: Balancer
    @exclusivity(unchecked) var records: [WorkerRecord?]
    @exclusivity(unchecked) var loads: [WorkerLoad]
    @exclusivity(unchecked) var dirty: [Int] = []
    /// Records replaced in their slot while a channel operation was still in flight: kept
    /// (with their message buffers) until those operations complete.
    @exclusivity(unchecked) var retired: [WorkerRecord] = []
    @exclusivity(unchecked) var nextSerial: UInt32 = 0
    /// One past the highest worker slot ever used: policies look at slots below it.
    @exclusivity(unchecked) var slotHighWater = 0
    /// Connections accepted while no worker could take them.
    @exclusivity(unchecked) var waiting: WaitingConnections
    /// Descriptors acknowledged in this turn, to close (reused).
    @exclusivity(unchecked) var closing: [Descriptor] = []
    /// Round-robin hand-offs go through the ring (decided at start: `HandoffPath`).
    let handoffThroughRing: Bool
    /// 503s for direct descriptors.
    let unavailable = UnavailableResponder(kind: PrimaryOperation.unavailable.rawValue)
    /// Slots of the primary's file table in use (accepted, not yet closed).
    @exclusivity(unchecked) var directHeld = 0
    /// Worker ring descriptors to close once nothing queued can still name them.
    @exclusivity(unchecked) var releasedRings: [Int32] = []
    @exclusivity(unchecked) var acknowledgementPollArmed = false
    @exclusivity(unchecked) var backoff: RestartBackoff
    /// Workers still to replace in a rolling restart, oldest first.
    @exclusivity(unchecked) var rollingQueue: [WorkerRecord] = []
    @exclusivity(unchecked) var rollingCurrent: WorkerRecord?
    /// Set when the primary stops because workers cannot start: run() then throws it.
    @exclusivity(unchecked) var failure: SystemError?
    @exclusivity(unchecked) var killedAtShutdown = false
    @exclusivity(unchecked) var uncleanExitAtShutdown = false
    /// Workers that reported SIGTERM/SIGINT this turn (see workerAskedToLeave).
    @exclusivity(unchecked) var leaveRequests: [WorkerRecord] = []
    /// When the first of `leaveRequests` came.
    @exclusivity(unchecked) var leaveRequestedAt: UInt64 = 0
    /// SIGCHLD, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR1, the stop signals (and SIGPIPE, ignored), read on the ring.
    let signals: SignalReader
    /// The signals that stop the cluster gracefully (SIGTERM, SIGINT; none under a host that owns them).
    let stopSignals: [Int32]
    @exclusivity(unchecked) var listeners = ListenerRegistry()
    /// Accepting in round-robin mode (and on a reuseport listener no worker serves).
    @exclusivity(unchecked) var acceptor = Acceptor(kinds: PrimaryOperation.acceptor)
    @exclusivity(unchecked) var running = true
    @exclusivity(unchecked) var shuttingDown = false
    /// Shutdown's second step has come: the primary accepts no more and sweeps its queues.
    @exclusivity(unchecked) var acceptingStopped = false
    /// Shutdown's third step: the sweep is done, every worker is draining.
    @exclusivity(unchecked) var workersDraining = false
    /// 503 answers given (queue full or timed out, shutdown, final sweep).
    @exclusivity(unchecked) var unavailableAnswers = 0
    /// PROXY headers being peeked at (ip-hash behind a PROXY balancer), or nil.
    let peeks: ProxyPeeks?
    /// A stop signal came and `--drain-delay` runs: readiness says 503, serving goes on.
    @exclusivity(unchecked) var drainDelayStarted = false

    /// Node's events (the cluster's handlers; each worker has its own too), request
    /// handlers, and where workers' descriptors go.
    @exclusivity(unchecked) var hooks = PrimaryHooks()

    /// The executor of the primary's loop: work from other threads (`Cluster.shutdown`)
    /// runs on the loop through it.
    public let executor: RingExecutor

    /// - Parameter stopSignals: read as a graceful stop (Cluster.stopSignals).
    public init(settings: PrimarySettings, stopSignals: [Int32] = [SIGTERM, SIGINT]) throws(SystemError) {
        self.settings = settings
        logger = ClusterLogHandler.makeLogger(role: "Primary")
        ring = try Ring(entries: 1024)
        executor = try RingExecutor()
        board = try LoadBoard(capacity: settings.maxWorkers)
        board.mode = settings.mode
        board.balance = settings.balance
        board.store(header: .primaryPID, Int(getpid()))
        balancer = Balancer(policy: settings.balance, seed: UInt64(getpid()) &* 0x9E37_79B9)
        backoff = settings.backoff
        waiting = WaitingConnections(limit: settings.queueLimit, timeoutNanoseconds: settings.queueTimeoutNanoseconds)
        records = Array(repeating: nil, count: settings.maxWorkers)
        loads = Array(repeating: WorkerLoad(eligible: false), count: settings.maxWorkers)
        if let fd = settings.listenFD {
            // Inherited without close-on-exec (systemd, a shell): workers must not get it too.
            try ProcessControl.setCloseOnExec(fd)
            listeners.override = fd
        }
        handoffThroughRing = try Self.chooseHandoff(settings, ring: ring, logger: logger)
        if settings.mode == .roundRobin && settings.balance == .ipHash, let proxy = settings.proxyProtocol {
            peeks = ProxyPeeks(settings: proxy, capacity: max(64, settings.queueLimit),
                               timeoutNanoseconds: settings.proxyHeaderTimeoutNanoseconds)
        } else {
            peeks = nil
        }
        acceptor.direct = handoffThroughRing
        // Workers get a clean signal mask (see Spawner).
        self.stopSignals = stopSignals
        signals = try SignalReader([SIGCHLD, SIGPIPE, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR1] + stopSignals)
    }

    /// Tells the worker's own handlers of `event`, then the cluster's.
    func emit(_ event: WorkerEvent, _ worker: Worker) {
        worker.events.emit(event, worker)
        hooks.events.emit(event, worker)
    }

    /// Every worker the primary started, dead ones included.
    public var workers: [Worker] { records.compactMap { $0?.worker } }

    // MARK: - Forking

    /// Starts a worker process. Its events follow: online, listening, ... exit.
    @discardableResult
    public func fork(environment: [String: String] = [:]) throws(SystemError) -> Worker {
        guard let slot = records.firstIndex(where: { $0 == nil || ($0!.worker.isDead && !$0!.respawnScheduled) }) else {
            throw SystemError("fork(all \(settings.maxWorkers) worker slots in use)", Errno(rawValue: EAGAIN))
        }
        return try fork(environment: environment, slot: slot).worker
    }

    func fork(environment: [String: String], slot: Int) throws(SystemError) -> WorkerRecord {
        let (mine, theirs) = try Channel.pair()
        let worker = Worker(id: slot + 1)
        worker.primary = self
        let pid: pid_t
        do throws(SystemError) {
            pid = try Spawner.spawnWorker(slot: slot, channel: theirs, board: board.fd, settings: settings,
                                          extraEnvironment: environment)
        } catch {
            closeDescriptor(mine)
            closeDescriptor(theirs)
            throw error
        }
        closeDescriptor(theirs)
        if records[slot] != nil { board.store(slot, .restarts, board.load(slot, .restarts) + 1) }
        worker.pid = pid
        worker.isConnected = true
        board.reset(slot, pid: pid)
        nextSerial &+= 1
        let record = WorkerRecord(worker: worker, channel: mine, environment: environment, now: monotonicNanoseconds(),
                                  serial: nextSerial)
        if let old = records[slot], old.hasOperationsInFlight { retired.append(old) }
        records[slot] = record
        slotHighWater = max(slotHighWater, slot + 1)
        loads[slot] = WorkerLoad(eligible: false)
        logger.debug("Worker \(pid) forked (id \(worker.id))")
        emit(.fork, worker)
        armReceive(record)
        return record
    }

    // MARK: - The loop

    /// Runs until every worker has exited (after a shutdown, or on their own).
    /// Throws when it stopped because workers could not start.
    public func run() throws(SystemError) {
        executor.start(on: ring, wakeUserData: UserData(kind: PrimaryOperation.wake.rawValue))
        armSignalRead()
        armTick()
        while running {
            try executor.waitForWork(on: ring)
            closeReleasedRings()
            ring.drainCompletions { self.complete($0) }
            executor.runJobs()
            if !leaveRequests.isEmpty { handleLeaveRequests() }
            flushHandoffs()
            collectAcknowledgements()
            armAcknowledgementPoll()
            board.store(header: .queueDepth, waiting.count)
            board.store(header: .unavailable, unavailableAnswers)
            let anyAlive = records.contains { $0 != nil && (!$0!.worker.isDead || $0!.respawnScheduled) }
            // At shutdown, the loop ends only after the accept grace and the sweep.
            if !anyAlive && (!shuttingDown || workersDraining) { running = false }
        }
        ring.submit()
        if shuttingDown { closeListeners() }
        // 503s still being written are not cut by our exit.
        turnUntil { unavailable.inFlight == 0 }
        for fd in releasedRings { closeDescriptor(fd) }
        releasedRings.removeAll()
        if let failure { throw failure }
    }

    /// Whether the primary stopped cleanly: asked to, every worker drained, none killed.
    public var stoppedCleanly: Bool { shuttingDown && failure == nil && !killedAtShutdown && !uncleanExitAtShutdown }

    func complete(_ c: Completion) {
        let ud = c.userData
        switch PrimaryOperation(rawValue: ud.kind) {
        case .signal: signalArrived(c)
        case .accept, .acceptRetry, .acceptSweep, .acceptCancel: accepted(c)
        case .receive: if let r = record(for: ud) { received(r, c.result); releaseIfRetired(r) }
        case .send: if let r = record(for: ud) { sent(r, c.result); releaseIfRetired(r) }
        case .shutdownTimer: forceKill()
        case .tick: tick()
        case .respawn: respawn(slot: Int(ud.index))
        case .acceptGrace: stopAccepting()
        case .close: c.closed()
        case .handoff: sentThroughRing(c)
        case .unavailable: unavailable.complete(c)
        case .acknowledgementPoll: acknowledgementPollArmed = false
        case .wake: executor.wake.arm(ring, userData: ud)
        case .drainDelay: shutdown(reason: "the drain delay is over")
        case .proxyPeek: peeked(c)
        case .proxyPeekRetry: if let peeks { submitPeek(Int(ud.index), peeks) }
        case nil: break
        }
    }

    /// The record a channel completion belongs to: the slot's current one, or a retired one.
    func record(for ud: UserData) -> WorkerRecord? {
        if let r = records[Int(ud.index)], r.serial == ud.generation { return r }
        return retired.first { $0.slot == Int(ud.index) && $0.serial == ud.generation }
    }

    func releaseIfRetired(_ r: WorkerRecord) {
        guard !r.hasOperationsInFlight, let i = retired.firstIndex(where: { $0 === r }) else { return }
        closeChannelIfIdle(r)
        retired.remove(at: i)
    }

    // MARK: - Signals

    func armSignalRead() {
        signals.arm(ring, userData: UserData(kind: PrimaryOperation.signal.rawValue))
    }

    func signalArrived(_ c: Completion) {
        switch signals.signal(in: c) {
        case SIGCHLD: reapChildren()
        case SIGHUP: rollingRestart()
        case SIGTTIN: scaleUp()
        case SIGTTOU: scaleDown()
        case SIGUSR1: if settings.forwardsSIGUSR1 { forwardToWorkers(SIGUSR1) }
        case let s? where stopSignals.contains(s): stopSignalled(s)
        default: break
        }
        armSignalRead()
    }

    /// A stop signal: with `--drain-delay`, readiness turns 503 now and the shutdown waits;
    /// a second signal (or none asked for) shuts down at once.
    func stopSignalled(_ signal: Int32) {
        guard settings.drainDelayNanoseconds > 0, !drainDelayStarted, !shuttingDown else {
            shutdown(reason: "signal \(signal)")
            return
        }
        drainDelayStarted = true
        board.store(header: .draining, 1)
        logger.notice("signal \(signal): not ready (503 on the readiness path) for \(settings.drainDelayNanoseconds / 1_000_000) ms, serving on; then a graceful stop")
        ring.timeout(nanoseconds: settings.drainDelayNanoseconds, userData: UserData(kind: PrimaryOperation.drainDelay.rawValue))
    }

    func forwardToWorkers(_ signal: Int32) {
        for r in records.compactMap({ $0 }) where !r.worker.isDead { ProcessControl.signal(r.worker.pid, signal) }
    }

    /// Collects every exited worker (one SIGCHLD may stand for several).
    func reapChildren() {
        while let (pid, status) = ProcessControl.reapChild() {
            guard let record = records.first(where: { $0?.worker.pid == pid && !$0!.worker.isDead }) ?? nil else { continue }
            workerExited(record, ExitStatus(waitStatus: status))
        }
    }
}
