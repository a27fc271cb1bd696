import Glibc
import URing

// Round-robin mode: accepting in the primary and handing connections to workers.

extension Primary {
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
        case .connection(let fd):
            route(HeldConnection(fd: fd, acceptedAt: monotonicNanoseconds()), avoiding: nil)
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
            && (since == 0 || now &- since < settings.stallNanoseconds)
            && !r.handoffs.isBackingOff(now: now)
            && (beat == 0 || Int(now / 1_000_000) - beat < Self.heartbeatStaleMilliseconds)
        loads[slot].active = board.load(slot, .active)
        loads[slot].inflight = board.load(slot, .inflight)
        loads[slot].unacknowledged = r.handoffs.outstanding
    }

    /// Picks a worker for a connection and queues it; sent at the end of the turn. With no
    /// worker able to take it, it waits (bounded by queueLimit and queueTimeout, counted
    /// from its accept, then 503). During shutdown, a connection no worker takes gets 503.
    func route(_ c: HeldConnection, avoiding: Int?) {
        let now = monotonicNanoseconds()
        if waiting.hasExpired(c, now: now) {
            answerUnavailable(c.fd)
            return
        }
        var hash: UInt64 = 0
        if balancer.policy == .ipHash { hash = Self.peerHash(c.fd) }
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
            if shuttingDown || !waiting.wait(c, now: now) { answerUnavailable(c.fd) }
            return
        }
        r.handoffs.assign(c)
        if r.handoffs.pending.count == 1 { dirty.append(slot) }
        if r.handoffs.pending.count >= MessageBuffer.maxDescriptors { startSend(r) }
    }

    func reroute(_ connections: [HeldConnection], avoiding: Int? = nil) {
        for c in connections { route(c, avoiding: avoiding) }
    }

    /// End of a turn: one hand-off message per worker with pending connections.
    func flushHandoffs() {
        guard !dirty.isEmpty else { return }
        for slot in dirty { if let r = records[slot] { startSend(r) } }
        dirty.removeAll(keepingCapacity: true)
    }

    /// End of a turn: what every worker has acknowledged (its `processed` position in the
    /// board) is closed here.
    func collectAcknowledgements() {
        for slot in 0..<slotHighWater {
            if let r = records[slot], !r.handoffs.unacknowledged.isEmpty { collectAcknowledgements(r) }
        }
    }

    /// Closes our copies of the connections the worker has dealt with.
    func collectAcknowledgements(_ r: WorkerRecord) {
        guard !r.worker.isDead else { return }
        r.handoffs.acknowledge(upTo: board.load(r.slot, .processed), now: monotonicNanoseconds(), closing: &closing)
        closeAcknowledged()
    }

    func closeAcknowledged() {
        for fd in closing { ring.close(fd, userData: UserData(kind: PrimaryOperation.close.rawValue)) }
        closing.removeAll(keepingCapacity: true)
    }

    /// The worker could not take `count` connections from hand-off `position` on (its
    /// descriptor limit): they go to another worker, and the worker is told we have them.
    /// It gets no new connection while it backs off (HandoffLedger.refuse).
    func refuse(_ r: WorkerRecord, position: Int, count: Int) {
        let back = r.handoffs.refuse(position: position, count: count, now: monotonicNanoseconds())
        board.store(r.slot, .refusalsConfirmed, r.handoffs.refusalsHandled)
        logger.notice("worker \(r.worker.pid) refused \(back.count) connections (descriptor limit); routing them elsewhere")
        reroute(back, avoiding: r.slot)
    }

    static func peerHash(_ fd: Int32) -> UInt64 {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = (try? syscall("getpeername") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
            }
        }) != nil
        guard ok else { return 0 }
        return withUnsafePointer(to: &storage) { p -> UInt64 in
            if Int32(p.pointee.ss_family) == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a in
                    withUnsafeBytes(of: a.pointee.sin6_addr) { Balancer.hash(address: $0) }
                }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a in
                withUnsafeBytes(of: a.pointee.sin_addr) { Balancer.hash(address: $0) }
            }
        }
    }
}
