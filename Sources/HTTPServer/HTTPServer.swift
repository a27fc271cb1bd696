import CLiburing
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

public final class HTTPServer<Handler: HTTPHandler>: ConnectionAdopting {
    public let configuration: ServerConfiguration
    public var handler: Handler
    let ring: Ring
    let buffers: BufferRing
    static var bufferGroup: UInt16 { 1 }

    let slots: UnsafeMutablePointer<ConnectionSlot>
    let slotCapacity: Int
    /// Free slot indices, used as a stack.
    let freeSlots: UnsafeMutablePointer<UInt32>
    var freeCount: Int
    /// One past the highest slot index ever used: the timer scan stops here.
    var slotHighWater = 0
    /// The parser's header-field table, shared by all parses on this loop (each connection's
    /// lifecycle copies its request's fields out of it as soon as its head parses).
    let fields: UnsafeMutableBufferPointer<HeaderField>

    var listeners: [Int32] = []
    var tickTimer: UnsafeMutablePointer<__kernel_timespec>
    var retryTimer: UnsafeMutablePointer<__kernel_timespec>
    /// The cached IMF-fixdate, refreshed by the tick when the second changes.
    let date: UnsafeMutableRawPointer
    var dateSecond = -1
    var now: UInt64 = 0
    var running = true
    public internal(set) var counters = ServerCounters()
    var lastAcceptErrorLog: UInt64 = 0
    var acceptBackoff = AcceptBackoff()
    var loopExtension: (any LoopExtension)?
    var draining = false
    /// Multishot accepts submitted and not yet ended (their last completion lacks F_MORE).
    var armedAccepts = 0
    /// How long a keep-alive connection may be idle during a drain before it is closed.
    public var drainIdleGraceNanoseconds: UInt64 = 100_000_000
    /// How long a connection that has sent nothing yet may stay open during a drain. Default 1 s.
    public var drainNewConnectionGraceNanoseconds: UInt64 = 1_000_000_000

    public init(configuration: ServerConfiguration, handler: Handler) throws(SystemError) {
        self.configuration = configuration
        self.handler = handler
        ring = try Ring(entries: configuration.ringEntries)
        buffers = try BufferRing(ring: ring, groupID: Self.bufferGroup,
                                 count: configuration.receiveBufferCount,
                                 bufferSize: configuration.receiveBufferSize)
        slotCapacity = max(1, configuration.maxConnections)
        slots = .allocate(capacity: slotCapacity)
        now = monotonicNanoseconds()
        freeSlots = .allocate(capacity: slotCapacity)
        for i in 0..<slotCapacity { freeSlots[i] = UInt32(slotCapacity - 1 - i) }
        freeCount = slotCapacity
        fields = .allocate(capacity: configuration.limits.maxHeaderCount + 1)
        tickTimer = .allocate(capacity: 1)
        retryTimer = .allocate(capacity: 1)
        tickTimer.initialize(to: __kernel_timespec(nanoseconds: configuration.tickNanoseconds))
        retryTimer.initialize(to: __kernel_timespec())
        date = .allocate(byteCount: HTTPDate.length, alignment: 8)
        date.initializeMemory(as: UInt8.self, repeating: 32, count: HTTPDate.length)
        let lifecycle = ConnectionLifecycle(settings: configuration.lifecycleSettings, limits: configuration.limits,
                                            timeouts: configuration.timeouts, scratch: fields, date: date)
        slots.initialize(repeating: ConnectionSlot(lifecycle: lifecycle), count: slotCapacity)
        counters.workerID = configuration.workerID
        counters.pid = getpid()
        refreshDate()
    }

    deinit {
        for i in 0..<slotCapacity {
            if slots[i].fd >= 0 { Glibc.close(slots[i].fd) }
            slots[i].lifecycle.freeMemory()
        }
        slots.deinitialize(count: slotCapacity)
        slots.deallocate()
        freeSlots.deallocate()
        fields.deallocate()
        tickTimer.deallocate()
        retryTimer.deallocate()
        date.deallocate()
    }

    /// Serves connections accepted on `fd` (a listening socket) with multishot accept.
    public func addListener(_ fd: Int32) {
        listeners.append(fd)
        armAccept(listenerIndex: listeners.count - 1)
    }

    /// Serves an already-connected socket (handed over by a cluster's primary).
    public func adopt(_ fd: Int32) {
        open(fd)
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
    public func drain() {
        guard !draining else { return }
        draining = true
        for fd in listeners {
            let sqe = ring.sqe()
            io_uring_prep_cancel_fd(sqe, fd, 0)
            io_uring_sqe_set_data64(sqe, 0)
        }
        drainTick()
    }

    public var isDraining: Bool { draining }

    /// Ends `run()` after the current turn.
    public func stop() { running = false }

    /// Runs the loop on the calling thread until `stop()`.
    public func run() throws(SystemError) {
        armTick()
        loopExtension?.start(ring: ring, server: self)
        while running {
            try ring.submitAndWait(1)
            now = monotonicNanoseconds()
            ring.drainCompletions { userData, result, flags in
                self.complete(UserData(rawValue: userData), result, flags)
            }
            loopExtension?.turnEnded()
        }
        ring.submit()
    }

    @inline(__always)
    func complete(_ ud: UserData, _ result: Int32, _ flags: UInt32) {
        if ud.kind >= LoopExtensionKinds.first {
            loopExtension?.complete(ud, result: result, flags: flags)
            return
        }
        switch OperationKind(rawValue: ud.kind) {
        case .receive: received(ud, result, flags)
        case .send: sent(ud, result)
        case .accept: accepted(listenerIndex: Int(ud.index), result, flags)
        case .close: closeFinished(ud)
        case .cancel: cancelFinished(ud)
        case .delay: delayElapsed(ud)
        case .tick: tick()
        case .acceptRetry: if running && !draining { armAccept(listenerIndex: Int(ud.index)) }
        case nil: break
        }
    }

    // MARK: - Accepting

    func armAccept(listenerIndex: Int) {
        armedAccepts += 1
        let sqe = ring.sqe()
        io_uring_prep_multishot_accept(sqe, listeners[listenerIndex], nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        io_uring_sqe_set_data64(sqe, UserData(kind: OperationKind.accept.rawValue, index: UInt32(listenerIndex)).rawValue)
    }

    func accepted(listenerIndex: Int, _ result: Int32, _ flags: UInt32) {
        let ended = flags & IORING_CQE_F_MORE == 0
        if ended { armedAccepts -= 1 }
        if result >= 0 {
            acceptBackoff.succeeded()
            // While draining too: accepted before the cancel took effect, it is answered once.
            open(result)
        } else if result != -ECANCELED {
            // Every error ends the multishot accept; re-arming at once could spin (AcceptBackoff).
            let delay = acceptBackoff.failed()
            if now &- lastAcceptErrorLog > 1_000_000_000 {
                lastAcceptErrorLog = now
                printError("uring-cluster: accept: \(Errno(negatedResult: result)); retrying in \(max(1, delay / 1_000_000)) ms")
            }
            if ended && running && !draining {
                retryTimer.pointee = __kernel_timespec(nanoseconds: delay)
                let sqe = ring.sqe()
                io_uring_prep_timeout(sqe, retryTimer, 0, 0)
                io_uring_sqe_set_data64(sqe, UserData(kind: OperationKind.acceptRetry.rawValue, index: UInt32(listenerIndex)).rawValue)
            }
            stopIfDrained()
            return
        }
        if ended && running && !draining { armAccept(listenerIndex: listenerIndex) }
        stopIfDrained()
    }

    /// A drain ends when no connection is left and no accept can still deliver one: a
    /// connection accepted after the loop ended would die with the process, unanswered.
    func stopIfDrained() {
        if draining && counters.active == 0 && armedAccepts == 0 { running = false }
    }

    // MARK: - Timers

    func armTick() {
        let sqe = ring.sqe()
        io_uring_prep_timeout(sqe, tickTimer, 0, 0)
        io_uring_sqe_set_data64(sqe, UserData(kind: OperationKind.tick.rawValue).rawValue)
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
