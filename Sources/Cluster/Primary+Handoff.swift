import Glibc
import HTTP1
import HTTPServer
import Logging
import URing

// Round-robin mode: accepting in the primary and handing connections to workers, through
// the ring (one MSG_RING per connection) or by SCM_RIGHTS messages (HandoffPath).

extension Primary {
    /// Slots of the primary's file table (cut to RLIMIT_NOFILE, raised to its hard limit
    /// first): what it holds at once, waiting or unacknowledged. The table must never fill
    /// (a direct accept with no free slot loses the connection it took: the kernel closes
    /// it), so above `fileTableSlots - fileTableMargin` held, a new connection is answered 503.
    static let fileTableSlots = 65536
    static var fileTableMargin: Int { 256 }

    /// Yama's ptrace scope (/proc/sys/kernel/yama/ptrace_scope), 0 where Yama is absent.
    static var yamaScope: Int {
        KernelSetting.number("/proc/sys/kernel/yama/ptrace_scope") ?? 0
    }

    /// Decides the hand-off path once, at start, and logs it once.
    static func chooseHandoff(_ settings: PrimarySettings, ring: Ring, logger: Logger) throws(SystemError) -> Bool {
        guard settings.mode == .roundRobin, settings.handoff != .message else { return false }
        var refusal: SystemError? = nil
        if settings.balance == .ipHash {
            // No ring operation on this kernel gives a direct descriptor's peer address.
            refusal = SystemError("--balance ip-hash, which reads the peer address with getpeername", .notSupported)
        } else if settings.maxWorkers > 256 {
            // A MSG_RING's user_data names the worker in 8 bits.
            refusal = SystemError("maxWorkers above 256", .invalidArgument)
        } else if Self.yamaScope >= 2 {
            // The probe reaches its own ring, which ptrace rules always allow; a worker's they
            // do not under Yama's scope 2 (CAP_SYS_PTRACE only) or 3 (never).
            refusal = SystemError("pidfd_getfd(kernel.yama.ptrace_scope \(Self.yamaScope))", .notPermitted)
        } else if let failed = DescriptorPassingProbe.check() {
            refusal = failed
        } else if !ring.registerFileTable(count: fileTableSlots) || ring.fileTableSize <= 2 * fileTableMargin {
            refusal = SystemError("io_uring_register_files_sparse(\(ring.fileTableSize) slots)", .invalidArgument)
        }
        guard let refusal else {
            logger.debug("hand-offs go through the ring (MSG_RING into each worker's file table)")
            return true
        }
        if settings.handoff == .ring { throw SystemError("--handoff ring(\(refusal.function))", refusal.errno) }
        logger.notice("hand-offs use SCM_RIGHTS messages: the ring cannot carry them here (\(refusal))")
        return false
    }

    /// The primary is the only one accepting on such a listener (round-robin mode, or a
    /// reuseport listener whose worker left): exclusive.
    func startAccepting(_ fd: Int32) {
        acceptor.add(fd, owned: false, exclusive: true, ring: ring)
    }

    /// The primary stops accepting on a listener a worker has taken over.
    func stopAccepting(on fd: Int32) {
        acceptor.remove(fd, ring: ring)
    }

    func accepted(_ c: Completion) {
        switch acceptor.complete(c, ring: ring) {
        case .connection(let file):
            if file.isDirect {
                directHeld += 1
                // Near a full table: a clear answer now, while a slot is still free for the
                // next accept.
                if directHeld > ring.fileTableSize - Self.fileTableMargin {
                    answerUnavailable(file)
                    break
                }
            }
            let c = HeldConnection(file: file, acceptedAt: monotonicNanoseconds())
            if let peeks { peekHeader(c, peeks) } else { route(c, avoiding: nil) }
        case .failed(let errno, let retry):
            logger.notice("accept: \(errno); retrying in \(max(1, retry / 1_000_000)) ms")
        case .none:
            break
        }
        if acceptingStopped { drainWorkersOnceSwept() }
    }

    /// A heartbeat older than this means the worker's loop is not turning (it turns at least
    /// every 250 ms, on its tick): no new connections for it until it beats again.
    static let heartbeatStaleMilliseconds = 750

    /// Refreshes the policy's view of a worker from the shared board and local counts.
    /// A worker can take connections when it is listening, connected, not draining, not
    /// backing off after a refusal, and not stalled (a hand-off unacknowledged for
    /// `stallNanoseconds`, or a stale heartbeat, means its loop is not turning).
    @inline(__always)
    func refreshLoad(_ slot: Int, now: UInt64) {
        guard let r = records[slot] else { return }
        let beat = board.load(slot, .heartbeat)
        // Read in place (a copy of the ledger would retain its queues on every route).
        let since = r.handoffs.unacknowledgedSince
        loads[slot].eligible = r.listening && !r.draining && !r.worker.isDead && r.worker.isConnected
            && (!handoffThroughRing || r.ringFD >= 0)
            && (since == 0 || now &- since < settings.stallNanoseconds)
            && !r.handoffs.isBackingOff(now: now)
            && (beat == 0 || Int(now / 1_000_000) - beat < Self.heartbeatStaleMilliseconds)
        loads[slot].active = board.load(slot, .active)
        loads[slot].inflight = board.load(slot, .inflight)
        loads[slot].unacknowledged = r.handoffs.outstanding
        let turn = board.load(slot, .turnStarted)
        loads[slot].busy = turn != 0 && Int(now / 1000) - turn >= Self.busyTurnMicroseconds
    }

    /// A worker whose loop turn has lasted this long is busy (`WorkerLoad.busy`): a turn of
    /// ordinary requests, even 64 connections' worth, takes a few hundred microseconds here.
    static var busyTurnMicroseconds: Int { 1000 }

    /// Picks a worker for a connection and queues it; sent at the end of the turn. With no
    /// worker able to take it, it waits (bounded by queueLimit and queueTimeout, counted
    /// from its accept, then 503). During shutdown, a connection no worker takes gets 503.
    func route(_ c: HeldConnection, avoiding: Int?) {
        let now = monotonicNanoseconds()
        if waiting.hasExpired(c, now: now) {
            answerUnavailable(c.file)
            return
        }
        var hash: UInt64 = 0
        if balancer.policy == .ipHash && !c.file.isDirect { hash = c.clientHash ?? Self.peerHash(c.file.value) }
        let count = slotHighWater
        for slot in 0..<count { refreshLoad(slot, now: now) }
        var excluded: WorkerLoad? = nil
        if let avoiding, avoiding < count {
            excluded = loads[avoiding]
            loads[avoiding].eligible = false
        }
        let choice = loads.withUnsafeBufferPointer { balancer.choose(UnsafeBufferPointer(rebasing: $0[0..<count]), clientHash: hash) }
        if let avoiding, let excluded { loads[avoiding] = excluded }
        guard let slot = choice, let r = records[slot] else {
            if shuttingDown || !waiting.wait(c, now: now) { answerUnavailable(c.file) }
            return
        }
        r.handoffs.assign(c)
        board.store(slot, .handoffs, board.load(slot, .handoffs) &+ 1)
        if r.handoffs.pending.count == 1 { dirty.append(slot) }
        if !handoffThroughRing && r.handoffs.pending.count >= MessageBuffer.maxDescriptors { startSend(r) }
    }

    func reroute(_ connections: [HeldConnection], avoiding: Int? = nil) {
        for c in connections { route(c, avoiding: avoiding) }
    }

    /// End of a turn: one hand-off message per worker with pending connections, or through
    /// the ring, one MSG_RING per connection (all in the turn's one submission).
    func flushHandoffs() {
        guard !dirty.isEmpty else { return }
        for slot in dirty {
            guard let r = records[slot] else { continue }
            if handoffThroughRing { sendThroughRing(r) } else { startSend(r) }
        }
        dirty.removeAll(keepingCapacity: true)
    }

    /// Installs every pending connection of `r` into the worker's file table. A success
    /// posts no completion here: the worker names the connection (the primary's slot, in
    /// its completion's user_data) on the board once it has adopted it. A failure completes
    /// (`sentThroughRing`).
    func sendThroughRing(_ r: WorkerRecord) {
        guard r.ringFD >= 0, !r.worker.isDead else { return }
        r.handoffs.startSendingEach(into: &r.sendingFiles, now: monotonicNanoseconds())
        for file in r.sendingFiles {
            // Only direct descriptors reach a ledger in this mode (stopAccepting answers a
            // process descriptor from a fallback sweep 503).
            assert(file.isDirect, "a process descriptor sent through the ring")
            ring.sendDescriptor(file.value, toRing: r.ringFD,
                                targetUserData: UserData(kind: WorkerChannel.Operation.handoff.rawValue, index: UInt32(file.value)),
                                userData: UserData(kind: PrimaryOperation.handoff.rawValue, generation: r.serial,
                                                   index: UInt32(r.slot) << 24 | UInt32(file.value)),
                                quietOnSuccess: true)
        }
    }

    /// A MSG_RING failed: the connection is routed elsewhere. ENFILE: the worker's table is
    /// full, a refusal (the worker backs off). EOWNERDEAD: the worker is exiting. EOVERFLOW:
    /// installed there, but its completion could not be posted (the worker's completion
    /// queue overflowed and memory ran out), so the worker will never serve it; it is served
    /// elsewhere, and the worker's stray reference keeps the socket open until it exits.
    func sentThroughRing(_ c: Completion) {
        let slot = Int(c.userData.index >> 24)
        let file = Descriptor(direct: Int32(c.userData.index & 0xFF_FFFF))
        guard slot < records.count, c.result < 0,
              let r = record(for: UserData(kind: 0, generation: c.userData.generation, index: UInt32(slot)))
        else { return }
        let refused = c.result == -ENFILE || c.result == -EMFILE
        if refused { board.store(r.slot, .refusals, board.load(r.slot, .refusals) &+ 1) }
        let now = monotonicNanoseconds()
        let wasBackingOff = r.handoffs.isBackingOff(now: now)
        guard let back = r.handoffs.sentEach(file, refused: refused, now: now) else {
            if !r.handoffs.isSending { startSend(r) }  // a drain waits for the hand-offs before it
            return
        }
        if refused && !wasBackingOff {
            logger.notice("worker \(r.worker.pid) refused connections (its file table is full); routing them elsewhere")
        } else if c.result == -EOVERFLOW {
            logger.error("worker \(r.worker.pid) could not be told of a connection (its completion queue overflowed); serving it elsewhere")
        }
        route(back, avoiding: r.slot)
        if !r.handoffs.isSending { startSend(r) }
    }

    /// End of a turn: what every worker has acknowledged (its `processed` position in the
    /// board) is closed here.
    func collectAcknowledgements() {
        for slot in 0..<slotHighWater {
            if let r = records[slot], !r.handoffs.unacknowledged.isEmpty || (handoffThroughRing && r.handoffs.isSending) {
                collectAcknowledgements(r)
            }
        }
    }

    /// Closes our copies of the connections the worker has dealt with: up to its position
    /// (messages), and each one it named (the ring). Once a worker is dead, only
    /// `workerGone` reads its last word.
    func collectAcknowledgements(_ r: WorkerRecord) {
        guard !r.worker.isDead else { return }
        takeAcknowledgements(r)
        if handoffThroughRing && !r.handoffs.isSending { startSend(r) }  // a drain waiting for them
    }

    func takeAcknowledgements(_ r: WorkerRecord) {
        let now = monotonicNanoseconds()
        if handoffThroughRing {
            board.takeAcknowledgements(r.slot) { name in
                if !r.handoffs.acknowledgeEach(Descriptor(direct: Int32(bitPattern: name)), now: now, closing: &closing) {
                    logger.error("worker \(r.worker.pid) acknowledged a connection it was not given (slot \(name)); ignored")
                }
            }
        } else {
            r.handoffs.acknowledge(upTo: board.load(r.slot, .processed), now: now, closing: &closing)
        }
        closeAcknowledged()
    }

    /// A success needs no handling: only a failed close completes.
    func closeAcknowledged() {
        for file in closing {
            if file.isDirect { directHeld -= 1 }
            ring.close(file, userData: Self.closeUserData(file), quietOnSuccess: true)
        }
        closing.removeAll(keepingCapacity: true)
    }

    /// A close's user_data names the descriptor (generation 1: direct), for the report of a
    /// close that failed.
    static func closeUserData(_ file: Descriptor) -> UserData {
        UserData(kind: PrimaryOperation.close.rawValue, generation: file.isDirect ? 1 : 0, index: UInt32(bitPattern: file.value))
    }

    /// Takes the worker's ring (`ring` is its descriptor number there), for hand-offs through
    /// the ring. A worker that cannot be reached gets no connection: said once per worker.
    func reachRing(_ r: WorkerRecord, number: Int32) {
        guard handoffThroughRing, r.ringFD < 0 else { return }
        guard number >= 0 else {
            logger.error("worker \(r.worker.pid) has no file table: it cannot take hand-offs through the ring (start with --handoff message)")
            return
        }
        do throws(SystemError) {
            r.ringFD = try ProcessControl.takeDescriptor(of: r.worker.pid, number: number)
        } catch {
            logger.error("worker \(r.worker.pid) cannot be reached through the ring (\(error)); it gets no connections (start with --handoff message)")
        }
    }

    /// The worker is gone: its ring descriptor is closed. Not on the ring (the kernel refuses
    /// an io_uring descriptor there, EBADF), and only once the kernel has taken every entry
    /// queued before (`closeReleasedRings`): each MSG_RING for this worker has its own
    /// reference to the ring by then, and none can find the number reused by another
    /// worker's ring.
    func releaseRing(_ r: WorkerRecord) {
        guard r.ringFD >= 0 else { return }
        releasedRings.append(r.ringFD)
        r.ringFD = -1
    }

    /// After a submission: closes the rings released while nothing queued is left.
    func closeReleasedRings() {
        guard !releasedRings.isEmpty, !ring.hasUnsubmitted else { return }
        for fd in releasedRings { closeDescriptor(fd) }
        releasedRings.removeAll()
    }

    /// While hand-offs through the ring await their names, the primary looks at the board
    /// every millisecond: a success wakes nothing, and a connection whose copy the primary
    /// still holds gets no FIN from the worker's close.
    func armAcknowledgementPoll() {
        guard handoffThroughRing, !acknowledgementPollArmed,
              records.contains(where: { $0.map { !$0.worker.isDead && $0.handoffs.isSending } ?? false }) else { return }
        acknowledgementPollArmed = true
        ring.timeout(nanoseconds: 1_000_000, userData: UserData(kind: PrimaryOperation.acknowledgementPoll.rawValue))
    }

    /// The worker could not take `count` connections from hand-off `position` on (its
    /// descriptor limit): they go to another worker, and the worker is told we have them.
    /// It gets no new connection while it backs off (HandoffLedger.refuse).
    func refuse(_ r: WorkerRecord, position: Int, count: Int) {
        let back = r.handoffs.refuse(position: position, count: count, now: monotonicNanoseconds())
        board.store(r.slot, .refusalsConfirmed, r.handoffs.refusalsHandled)
        board.store(r.slot, .refusals, board.load(r.slot, .refusals) &+ back.count)
        logger.notice("worker \(r.worker.pid) refused \(back.count) connections (descriptor limit); routing them elsewhere")
        reroute(back, avoiding: r.slot)
    }

    static func peerHash(_ fd: Int32) -> UInt64 {
        guard let peer = peerAddress(fd) else { return 0 }
        return hash(peer)
    }

    static func hash(_ client: ClientAddress) -> UInt64 {
        client.addressBytes.withUnsafeBytes { Balancer.hash(address: $0) }
    }

    /// getpeername(2) of a process descriptor.
    static func peerAddress(_ fd: Int32) -> ClientAddress? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = (try? syscall("getpeername") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
            }
        }) != nil
        guard ok else { return nil }
        return withUnsafeBytes(of: &storage) { ClientAddress(sockaddr: UnsafeRawBufferPointer(rebasing: $0[0..<Int(len)])) }
    }
}
