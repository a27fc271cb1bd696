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
    /// Header-field table shared by all parses on this loop (a parse finishes before the next starts).
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
    var loopExtension: (any LoopExtension)?
    var draining = false
    /// Multishot accepts submitted and not yet ended (their last completion lacks F_MORE).
    var armedAccepts = 0
    /// How long a keep-alive connection may be idle during a drain before it is closed.
    public var drainIdleGraceNanoseconds: UInt64 = 100_000_000

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
        let machine = HTTPConnectionStateMachine(limits: configuration.limits, timeouts: configuration.timeouts, now: now)
        slots.initialize(repeating: ConnectionSlot(machine: machine), count: slotCapacity)
        freeSlots = .allocate(capacity: slotCapacity)
        for i in 0..<slotCapacity { freeSlots[i] = UInt32(slotCapacity - 1 - i) }
        freeCount = slotCapacity
        fields = .allocate(capacity: configuration.limits.maxHeaderCount + 1)
        tickTimer = .allocate(capacity: 1)
        retryTimer = .allocate(capacity: 1)
        tickTimer.initialize(to: __kernel_timespec(tv_sec: Int64(configuration.tickNanoseconds / 1_000_000_000),
                                                   tv_nsec: Int64(configuration.tickNanoseconds % 1_000_000_000)))
        retryTimer.initialize(to: __kernel_timespec(tv_sec: 0, tv_nsec: 100_000_000))
        date = .allocate(byteCount: HTTPDate.length, alignment: 8)
        counters.workerID = configuration.workerID
        counters.pid = getpid()
        refreshDate()
    }

    deinit {
        for i in 0..<slotCapacity {
            if slots[i].fd >= 0 { Glibc.close(slots[i].fd) }
            slots[i].input.release()
            slots[i].output.release()
            slots[i].flight.release()
            slots[i].held.release()
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
        case .close, .cancel: operationFinished(ud)
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
        if flags & IORING_CQE_F_MORE == 0 { armedAccepts -= 1 }
        if result >= 0 {
            // While draining too: accepted before the cancel took effect, it is answered once.
            open(result)
        } else {
            let errno = Errno(negatedResult: result)
            if errno == .tooManyOpenFiles || errno == .tooManyOpenFilesInSystem {
                // Re-arming at once at the descriptor limit spins: back off 100 ms, log at most once a second.
                if now &- lastAcceptErrorLog > 1_000_000_000 {
                    lastAcceptErrorLog = now
                    printError("uring-cluster: accept: \(errno); retrying in 100 ms")
                }
                if flags & IORING_CQE_F_MORE == 0 {
                    let sqe = ring.sqe()
                    io_uring_prep_timeout(sqe, retryTimer, 0, 0)
                    io_uring_sqe_set_data64(sqe, UserData(kind: OperationKind.acceptRetry.rawValue, index: UInt32(listenerIndex)).rawValue)
                }
                return
            }
        }
        if flags & IORING_CQE_F_MORE == 0 && running && !draining { armAccept(listenerIndex: listenerIndex) }
        stopIfDrained()
    }

    /// A drain ends when no connection is left and no accept can still deliver one: a
    /// connection accepted after the loop ended would die with the process, unanswered.
    func stopIfDrained() {
        if draining && counters.active == 0 && armedAccepts == 0 { running = false }
    }

    /// Takes a new connection into the table and starts reading it.
    func open(_ fd: Int32) {
        counters.connections += 1
        guard freeCount > 0 else {
            // At --max-connections: a clear answer, then close (best effort, never blocks).
            var out = RawBuffer()
            ResponseWriter.writeError(into: &out, status: .serviceUnavailable, date: date)
            _ = Glibc.send(fd, out.base, out.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            out.release()
            Glibc.close(fd)
            return
        }
        freeCount -= 1
        let index = Int(freeSlots[freeCount])
        slotHighWater = max(slotHighWater, index + 1)
        counters.active += 1
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let s = slots + index
        s.pointee.state = .open
        s.pointee.fd = fd
        s.pointee.generation = (s.pointee.generation &+ 1) & UserData.generationMask
        s.pointee.machine = HTTPConnectionStateMachine(limits: configuration.limits, timeouts: configuration.timeouts, now: now)
        s.pointee.readClosed = false
        s.pointee.closeAfterSend = false
        s.pointee.delayed = false
        s.pointee.flightOffset = 0
        armReceive(index)
    }

    func armReceive(_ index: Int) {
        let s = slots + index
        let sqe = ring.sqe()
        io_uring_prep_recv_multishot(sqe, s.pointee.fd, nil, 0, 0)
        sqe.pointee.flags |= CLiburing_IOSQE_BUFFER_SELECT()
        sqe.pointee.buf_group = Self.bufferGroup
        io_uring_sqe_set_data64(sqe, userData(.receive, index))
        s.pointee.receiveArmed = true
        s.pointee.inflight += 1
    }

    @inline(__always)
    func userData(_ kind: OperationKind, _ index: Int) -> UInt64 {
        UserData(kind: kind.rawValue, generation: slots[index].generation, index: UInt32(index)).rawValue
    }

    /// The slot a completion belongs to, or nil for a stale one (never expected: slots are
    /// reused only after every operation on them has completed).
    @inline(__always)
    func slot(for ud: UserData) -> Int? {
        let index = Int(ud.index)
        guard index < slotCapacity, slots[index].generation == ud.generation, slots[index].state != .free else { return nil }
        return index
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
        for index in 0..<slotHighWater {
            let s = slots + index
            guard s.pointee.state == .open, let since = s.pointee.machine.idleSince,
                  !s.pointee.sending, s.pointee.output.isEmpty, s.pointee.input.isEmpty,
                  now &- since >= drainIdleGraceNanoseconds else { continue }
            closeNow(index)
        }
        stopIfDrained()
    }

    /// The periodic timer: refreshes the Date header and enforces every connection's deadlines.
    func tick() {
        refreshDate()
        if draining { drainTick() }
        for index in 0..<slotHighWater {
            let s = slots + index
            switch s.pointee.state {
            case .open:
                if s.pointee.sending {
                    // A client that stops reading must not hold a connection (or a drain) forever;
                    // the idle and keep-alive timers do not run while our response is going out.
                    if now >= s.pointee.sendDeadline { closeNow(index) }
                    continue
                }
                guard let deadline = s.pointee.machine.deadline, now >= deadline else { continue }
                switch s.pointee.machine.expire(now: now) {
                case .none: break
                case .close: closeNow(index)
                case .reject(let status): reject(index, status)
                }
            case .lingering:
                if now >= s.pointee.lingerDeadline { closeNow(index) }
            case .free, .closing:
                continue
            }
        }
        if running { armTick() }
    }
}
