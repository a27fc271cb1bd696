import Glibc
import HTTP1
import URing

// The per-process event loop: one ring, one thread, every socket operation a completion.
//
// Per turn: one io_uring_submit_and_wait, then every ready completion is handled and the
// completion queue advanced once per batch (Ring.drainCompletions). Connections arrive by
// multishot accept on a listener, or are adopted from elsewhere (a cluster's primary hands
// them over), and are read with multishot recv into a provided-buffer ring. Received bytes
// are copied into the connection's input buffer and the kernel's buffer given back at once,
// so a slow request never pins a shared buffer. All responses produced from one read are
// appended to one output buffer and leave in one send.
//
// Hot-path rules: no allocation (buffers grow once per connection and are reused), no
// class references or existentials per request (the handler is a generic parameter), one
// syscall-free path from completion to response except the send itself.
//
// The loop's mutable state is `@exclusivity(unchecked)`: only the loop's thread touches it,
// and Swift's run-time exclusivity check on a class's stored property (swift_beginAccess,
// a thread-local access set) cost 3% of the CPU of pipelined requests here, at the
// handler's call and the request counter alone. The price: an overlapping access is no
// longer caught at run time. None exists in the loop; a handler must not replace
// `server.handler` from inside its own `handle` call.

public final class HTTPServer<Handler: HTTPHandler>: ConnectionAdopting {
    public let configuration: ServerConfiguration
    @exclusivity(unchecked) public var handler: Handler
    let ring: Ring
    let buffers: BufferRing
    static var bufferGroup: UInt16 { 1 }

    let slots: UnsafeMutablePointer<ConnectionSlot>
    let slotCapacity: Int
    /// Free slot indices, used as a stack.
    let freeSlots: UnsafeMutablePointer<UInt32>
    @exclusivity(unchecked) var freeCount: Int
    /// One past the highest slot index ever used: the timer scan stops here, and only the
    /// slots below it are initialized. The table is reserved for `maxConnections` but its
    /// pages are touched only as connections first use them (5 MB of a worker's start-up
    /// RSS, for the default 10,000, before this).
    @exclusivity(unchecked) var slotHighWater = 0
    /// What a slot is initialized to on first use.
    let slotTemplate: ConnectionSlot
    /// The parser's header-field table, shared by all parses on this loop (each connection's
    /// lifecycle copies its request's fields out of it as soon as its head parses).
    let fields: UnsafeMutableBufferPointer<HeaderField>

    /// The listeners' accepts: armed, backed off, swept on drain (URing/Acceptor.swift).
    @exclusivity(unchecked) var acceptor = Acceptor(kinds: OperationKind.acceptor)
    /// 503s at --max-connections for direct descriptors.
    let unavailable = UnavailableResponder(kind: OperationKind.unavailable.rawValue)
    /// The cached IMF-fixdate, refreshed by the tick when the second changes.
    let date: UnsafeMutableRawPointer
    @exclusivity(unchecked) var dateSecond = -1
    @exclusivity(unchecked) var now: UInt64 = 0
    @exclusivity(unchecked) var running = true
    @exclusivity(unchecked) var started = false
    @exclusivity(unchecked) var drainHandlers: [() -> Void] = []
    @exclusivity(unchecked) public internal(set) var counters = ServerCounters()
    @exclusivity(unchecked) var loopExtension: (any LoopExtension)?
    @exclusivity(unchecked) var draining = false
    /// The drain's last sweep of the listeners has been made (stopIfDrained).
    @exclusivity(unchecked) var finalSweepDone = false
    /// The executor of this loop's thread: async handlers' tasks run on it (PendingResponse).
    public let executor: RingExecutor
    /// Ring operations its tasks await (a file server's opens, reads and closes).
    public let operations: AwaitedOperations
    /// Requests whose handler answers later, by slot index: what their answer's head needs,
    /// and the task to cancel if it is abandoned. Touched on the async path only.
    @exclusivity(unchecked) var awaited: [UInt32: AwaitedRequest] = [:]
    /// The task a handler registered (`PendingResponse.cancelling`) during its own call,
    /// before the loop knows whether it returned `.pending`.
    @exclusivity(unchecked) var taskOfDispatch: Task<Void, Never>? = nil
    /// The body sink a handler registered during its own call (as `taskOfDispatch`).
    @exclusivity(unchecked) var sinkOfDispatch: (any RequestBodySink)? = nil
    /// The dispatch whose handler is being called (serial 0: none), and what its answer's
    /// head needs.
    @exclusivity(unchecked) var currentDispatch = PendingResponse.Slot(index: 0, generation: 0, serial: 0)
    @exclusivity(unchecked) var currentReply = ReplyHead(isHead: false, minorVersion: 1, keepAlive: true)
    /// Handler calls under way: above 1 when one handler's answer to another connection
    /// dispatched that connection's next request from inside the first call.
    @exclusivity(unchecked) var callDepth = 0
    /// This server as the host its tickets name, made once (not an existential per request).
    @exclusivity(unchecked) unowned(unsafe) var asHost: (any PendingResponseHost)? = nil
    /// A pending response answered before its handler returned (a task started with
    /// `Task.immediate` that never suspended): its keep-alive decision.
    @exclusivity(unchecked) var answeredInCall: Bool? = nil
    /// `--access-log`, or nil (then the hot path pays one nil check per request).
    let accessLog: AccessLog?
    /// The liveness and readiness paths answered before the handler, or nil.
    let health: HealthRoutes?
    /// Where readiness comes from (a cluster's board); nil: this loop's own word,
    /// `announcesReady` and not draining.
    public var readiness: (any ReadinessSource)?
    /// Whether this loop says it is ready when nothing else decides (a lone server's
    /// `--drain-delay` turns it off before the drain starts).
    @exclusivity(unchecked) public var announcesReady = true
    /// The answer a pending response's writer gave (for its log line).
    @exclusivity(unchecked) var lastAnswer = (status: 0, bodyBytes: 0)
    /// How long a keep-alive connection may be idle during a drain before it is closed.
    public var drainIdleGraceNanoseconds: UInt64 = 100_000_000
    /// How long a connection that has sent nothing yet may stay open during a drain. Default 1 s.
    public var drainNewConnectionGraceNanoseconds: UInt64 = 1_000_000_000

    public init(configuration: ServerConfiguration, handler: Handler) throws(SystemError) {
        self.configuration = configuration
        self.handler = handler
        ring = try Ring(entries: configuration.ringEntries)
        executor = try RingExecutor()
        operations = AwaitedOperations(ring: ring, executor: executor, kind: OperationKind.awaited.rawValue)
        buffers = try BufferRing(ring: ring, groupID: Self.bufferGroup,
                                 count: configuration.receiveBufferCount,
                                 bufferSize: configuration.receiveBufferSize)
        // Connections as direct descriptors: accepted into the ring's file table, and the
        // target of a primary's hand-offs through the ring. The table must never fill: a
        // direct accept takes the connection off the listener's queue before it looks for a
        // slot, and with none free the kernel closes it (a reset, not a 503). So the
        // connection limit stays a margin below the table's size (cut to RLIMIT_NOFILE, which
        // is raised to its hard limit first), and that margin holds the 503s given at the
        // limit until their closes complete.
        var capacity = max(1, configuration.maxConnections)
        var direct = false
        if configuration.directDescriptors {
            if ring.registerFileTable(count: capacity + Self.fileTableMargin) {
                direct = true
                let table = ring.fileTableSize
                capacity = max(1, min(capacity, table - min(Self.fileTableMargin, table / 4)))
            }
        }
        slotCapacity = capacity
        slots = .allocate(capacity: slotCapacity)
        now = monotonicNanoseconds()
        freeSlots = .allocate(capacity: slotCapacity)
        for i in 0..<slotCapacity { freeSlots[i] = UInt32(slotCapacity - 1 - i) }
        freeCount = slotCapacity
        fields = .allocate(capacity: configuration.limits.maxHeaderCount + 1)
        date = .allocate(byteCount: HTTPDate.length, alignment: 8)
        date.initializeMemory(as: UInt8.self, repeating: 32, count: HTTPDate.length)
        var settings = configuration.lifecycleSettings
        settings.offersBodies = handler.offersBodies
        let lifecycle = ConnectionLifecycle(settings: settings, limits: configuration.limits,
                                            timeouts: configuration.timeouts, scratch: fields, date: date)
        slotTemplate = ConnectionSlot(lifecycle: lifecycle)
        acceptor.direct = direct
        counters.workerID = configuration.workerID
        counters.pid = getpid()
        if let settings = configuration.accessLog {
            accessLog = try AccessLog(settings, workerID: configuration.workerID)
        } else {
            accessLog = nil
        }
        health = HealthRoutes(live: configuration.healthPath, ready: configuration.readyPath)
        refreshDate()
        asHost = self
    }

    /// Whether /readyz answers 200.
    public var isReady: Bool { readiness?.isReady ?? (announcesReady && !draining) }

    /// Access-log lines dropped (a full buffer behind a slow disk, or a failed write).
    public var accessLogDropped: Int { accessLog?.dropped ?? 0 }

    /// File table slots beyond `maxConnections` (a quarter of a small table).
    static var fileTableMargin: Int { 1024 }

    /// Whether connections are direct descriptors (the ring has a file table).
    public var usesDirectDescriptors: Bool { acceptor.direct }

    /// The ring's descriptor, which a primary takes (pidfd_getfd) to hand connections
    /// straight into this loop's file table.
    public var ringDescriptor: Int32 { ring.descriptor }

    deinit {
        // Direct descriptors go with the ring.
        for i in 0..<slotHighWater {
            if slots[i].file.isValid && !slots[i].file.isDirect { closeDescriptor(slots[i].file.value) }
            slots[i].lifecycle.freeMemory()
        }
        slots.deinitialize(count: slotHighWater)
        slots.deallocate()
        freeSlots.deallocate()
        fields.deallocate()
        date.deallocate()
    }

    /// Serves connections accepted on `fd` (a listening socket) with multishot accept. The
    /// loop owns this descriptor from now on and closes it once drained. `exclusive`: no
    /// other process accepts on it (a server running alone), so a drain can sweep it even
    /// on a kernel without IORING_ACCEPT_DONTWAIT.
    public func addListener(_ fd: Int32, exclusive: Bool) {
        acceptor.add(fd, owned: true, exclusive: exclusive, ring: ring)
    }

    /// A listener shared with other processes (a cluster worker's).
    public func addListener(_ fd: Int32) { addListener(fd, exclusive: false) }

    /// Serves an already-connected socket (handed over by a cluster's primary): a process
    /// descriptor (SCM_RIGHTS), or a slot of this ring's file table (MSG_RING).
    public func adopt(_ file: Descriptor) {
        open(file)
    }

    /// Runs `ext` on this loop (see LoopExtension). One at most.
    public func attach(_ ext: any LoopExtension) {
        loopExtension = ext
    }

    /// Graceful stop: accept nothing more, answer what is in progress with
    /// `Connection: close`, close keep-alive connections once idle, and end `run()` when
    /// no connection is left. A connection that has not sent its first request yet gets
    /// one answer. Keep-alive connections idle for `drainIdleGraceNanoseconds` are closed:
    /// a client about to send on one gets the grace to do so (the unavoidable keep-alive race).
    ///
    /// `sweepingListeners` (when the listeners close for everyone: a stop, not one worker
    /// leaving a shared port): what their queues hold completed its handshake, so it is
    /// served too, at the start and once more at the end of the drain.
    public func drain(sweepingListeners: Bool = true) {
        guard !draining else { return }
        draining = true
        for f in drainHandlers { f() }
        finalSweepDone = !sweepingListeners
        acceptor.stop(sweep: sweepingListeners, ring: ring)
        acceptor.takeSwept { open($0) }
        drainTick()
    }

    public var isDraining: Bool { draining }

    /// Calls `f` on the loop's thread when a drain begins (a graceful stop, or a worker
    /// leaving): where an application stops taking new work of its own and closes what it
    /// opened. Requests in progress are still answered after it.
    public func onDrain(_ f: @escaping () -> Void) { drainHandlers.append(f) }

    /// Ends `run()` after the current turn.
    public func stop() { running = false }

    /// Runs the loop on the calling thread until `stop()`.
    ///
    /// Each turn ends with the executor's jobs (async handlers' tasks), after the ring's
    /// completions; while jobs remain, the next turn reaps completions without waiting.
    public func run() throws(SystemError) {
        start()
        while running { try turn() }
        if let accessLog {
            // The last lines: the write in flight completes first (a few turns at most).
            for _ in 0..<200 where accessLog.inFlight { try turn() }
            accessLog.flushBlocking()
        }
        if abandonAwaited() > 0 {
            // Their tasks, woken by the cancels (some from the timer's thread), get 100 ms
            // to run to their end here: after this, nothing runs them (the loop is gone).
            for _ in 0..<100 {
                executor.runJobs()
                usleep(1_000)
            }
            executor.runJobs()
        }
        ring.submit()
    }

    /// The loop has ended with answers still awaited (a `stop()`, not a drain): their tasks
    /// are cancelled and any stream writer waiting for room is told, since nothing will
    /// take what they produce.
    func abandonAwaited() -> Int {
        let all = awaited
        awaited.removeAll()
        for (_, request) in all {
            counters.inflight -= 1
            request.abandon()
        }
        return all.count
    }

    /// What `run()` does first, on the loop's thread: for a caller that turns the loop
    /// itself (`turn()`), as a test harness does.
    public func start() {
        guard !started else { return }
        started = true
        executor.start(on: ring, wakeUserData: UserData(kind: OperationKind.wake.rawValue))
        armTick()
        accessLog?.start(ring: ring)
        loopExtension?.start(ring: ring, server: self)
    }

    /// One turn: submit, wait for a completion (not while jobs wait), handle every
    /// completion, run the executor's jobs. At most a tick long when nothing happens.
    public func turn() throws(SystemError) {
        try executor.waitForWork(on: ring)
        now = monotonicNanoseconds()
        loopExtension?.turnStarted(now: now)
        ring.drainCompletions { self.complete($0) }
        executor.runJobs()
        accessLog?.flushIfFull()
        loopExtension?.turnEnded()
    }

    /// Whether the loop still runs (false after `stop()`, or once a drain is complete).
    public var isRunning: Bool { running }

    @inline(__always)
    func complete(_ c: Completion) {
        let ud = c.userData
        if ud.kind >= LoopExtensionKinds.first {
            loopExtension?.complete(c)
            return
        }
        switch OperationKind(rawValue: ud.kind) {
        case .receive: received(c)
        case .send: sent(c)
        case .close: closeFinished(c)
        case .cancel: cancelFinished(ud)
        case .delay: delayElapsed(ud)
        case .tick: tick()
        case .accept, .acceptRetry, .acceptSweep, .acceptCancel: accepted(c)
        case .unavailable:
            unavailable.complete(c)
            stopIfDrained()
        case .shutdown: shutdownFinished(ud)
        case .wake: executor.wake.arm(ring, userData: ud)
        case .peerName: peerNamed(c)
        case .awaited: operations.complete(c)
        case .accessLogWrite, .accessLogSignal: accessLog?.complete(c)
        case nil: break
        }
    }

    // MARK: - Accepting

    func accepted(_ c: Completion) {
        switch acceptor.complete(c, ring: ring) {
        case .connection(let fd):
            // While draining too: the sweep's, and any accepted before the cancel took
            // effect, are each answered.
            open(fd)
        case .failed(let errno, let retry):
            printError("uring-cluster: accept: \(errno); retrying in \(max(1, retry / 1_000_000)) ms")
        case .none:
            break
        }
        stopIfDrained()
    }

    /// A drain ends when no connection is left and no accept can still deliver one: a
    /// connection accepted after the loop ended would die with the process, unanswered.
    func stopIfDrained() {
        guard draining && counters.active == 0 && acceptor.isIdle && unavailable.inFlight == 0 && running else { return }
        if !finalSweepDone {
            // What completed its handshake during the drain is served too, not reset when
            // the listener closes.
            finalSweepDone = true
            acceptor.sweepAgain(ring: ring)
            acceptor.takeSwept { open($0) }
            if !acceptor.isIdle || counters.active > 0 { return }
        }
        acceptor.closeListeners()
        running = false
    }

    // MARK: - Timers

    func armTick() {
        ring.timeout(nanoseconds: configuration.tickNanoseconds, userData: UserData(kind: OperationKind.tick.rawValue))
    }

    func refreshDate() {
        let second = wallClockSeconds()
        if second != dateSecond {
            dateSecond = second
            HTTPDate.format(epochSeconds: second, into: date)
        }
    }

    /// During a drain: closes idle keep-alive connections, and ends the loop when none is left.
    func drainTick() {
        for index in 0..<slotHighWater
        where slots[index].lifecycle.closeIfIdle(now: now, grace: drainIdleGraceNanoseconds, newGrace: drainNewConnectionGraceNanoseconds) {
            perform(index)
        }
        stopIfDrained()
    }

    /// The periodic timer: refreshes the Date header and enforces every connection's deadlines.
    func tick() {
        refreshDate()
        accessLog?.flush()
        if draining { drainTick() }
        for index in 0..<slotHighWater {
            let state = slots[index].lifecycle.state
            guard state == .open || state == .lingering else { continue }
            slots[index].lifecycle.tick(now: now)
            perform(index)
        }
        if running { armTick() }
    }
}
