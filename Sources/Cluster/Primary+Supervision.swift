import Glibc
import HTTPServer
import URing

// Supervision: what PM2, gunicorn and nginx do around Node's cluster, done by the primary.
// - a worker that exits unasked is replaced, after RestartBackoff's delay; workers that
//   never become ready, again and again, make the primary give up with an error;
// - readiness: a worker gets connections only once it is listening, and a replaced worker
//   is drained only once its replacement is listening (rolling restart on SIGHUP);
// - SIGTTIN adds a worker, SIGTTOU drains one; SIGTERM/SIGINT drain them all;
// - a periodic tick kills workers whose heartbeat stopped, or that are not ready in time,
//   and answers 503 to connections that waited too long for any worker.

extension Primary {
    static let tickNanoseconds: UInt64 = 100_000_000

    func armTick() {
        ring.timeout(nanoseconds: Self.tickNanoseconds, userData: UserData(kind: PrimaryOperation.tick.rawValue))
    }

    func tick() {
        let now = monotonicNanoseconds()
        for case let r? in records where !r.worker.isDead {
            if r.draining && now &- r.drainStartedAt > settings.shutdownTimeoutNanoseconds {
                logger.notice("worker \(r.worker.pid) still draining after \(settings.shutdownTimeoutNanoseconds / 1_000_000) ms: killed")
                if shuttingDown { killedAtShutdown = true }
                ProcessControl.signal(r.worker.pid, SIGKILL)
                continue
            }
            if !r.listening {
                if now &- r.spawnedAt > settings.readyTimeoutNanoseconds && !r.draining {
                    logger.notice("worker \(r.worker.pid) not listening after \(settings.readyTimeoutNanoseconds / 1_000_000) ms: killed")
                    ProcessControl.signal(r.worker.pid, SIGKILL)
                }
                continue
            }
            if settings.workerTimeoutNanoseconds > 0 {
                let beat = UInt64(max(0, board.load(r.slot, .heartbeat))) * 1_000_000
                if beat > 0 && now > beat && now - beat > settings.workerTimeoutNanoseconds {
                    logger.notice("worker \(r.worker.pid) sent no heartbeat for \((now - beat) / 1_000_000) ms: killed")
                    ProcessControl.signal(r.worker.pid, SIGKILL)
                }
            }
        }
        // Connections that waited too long for any worker get a clear answer.
        for c in waiting.expired(now: now) { answerUnavailable(c.file) }
        if !waiting.isEmpty { drainWaiting() }
        if running { armTick() }
    }

    /// Writes a 503 and closes: for connections no worker can take.
    func answerUnavailable(_ file: Descriptor) {
        unavailableAnswers += 1
        if file.isDirect { directHeld -= 1 }  // its close is linked to the answer
        unavailable.answer(file, ring: ring, date: nil)
    }

    /// Turns the ring after the main loop has ended, until `done`: for the last sweep of the
    /// listeners and the last 503s (only their completions are handled here).
    func turnUntil(_ done: () -> Bool) {
        while !done() {
            do throws(SystemError) { try ring.submitAndWait(1) } catch { break }
            ring.drainCompletions { c in
                switch PrimaryOperation(rawValue: c.userData.kind) {
                case .accept, .acceptRetry, .acceptSweep, .acceptCancel: accepted(c)
                case .close: c.closed()
                case .unavailable: unavailable.complete(c)
                default: break
                }
            }
        }
    }

    /// Hands waiting connections to workers that can take them now.
    func drainWaiting() {
        reroute(waiting.takeAll())
    }

    // MARK: - Exits and restarts

    func workerExited(_ record: WorkerRecord, _ status: ExitStatus) {
        let worker = record.worker
        let now = monotonicNanoseconds()
        worker.isDead = true
        let wasReady = record.listening
        record.listening = false
        loads[record.slot].eligible = false
        board.store(record.slot, .state, WorkerState.dead.rawValue)
        let expected = worker.exitedAfterDisconnect || shuttingDown
        // A stop is clean only if every worker drained and exited 0 (not a worker that a
        // signal killed meanwhile).
        if shuttingDown && status != .exited(code: 0) { uncleanExitAtShutdown = true }
        if expected {
            logger.debug("Worker \(worker.pid) exited: \(status)")
        } else {
            logger.notice("worker \(worker.pid) died: \(status)")
        }
        // Its listener (reuseport) must not sit unserved: the primary accepts on it meanwhile.
        for fd in listeners.release(slot: record.slot) where !shuttingDown { startAccepting(fd) }
        // What it acknowledged just before dying (its last published position) it had
        // adopted: closed here, never served twice. Every other connection, a hand-off still
        // in flight included, goes to another worker now.
        // Its last acknowledgements by name (the ring) are read first, for the same reason.
        if handoffThroughRing { takeAcknowledgements(record) }
        let back = record.handoffs.workerGone(finalPosition: board.load(record.slot, .processed), now: now, closing: &closing)
        closeAcknowledged()
        releaseRing(record)
        reroute(back, avoiding: record.slot)
        for (_, fd) in record.control { if let fd, !listeners.isOwned(fd) { closeDescriptor(fd) } }
        record.control.removeAll()
        if record.worker.isConnected { channelClosed(record) }
        emit(.exit(status), worker)

        if rollingCurrent === record {
            rollingCurrent = nil
            if let old = record.replacing, !old.worker.isDead {
                // A replacement failed to start: the old worker stays; the restart stops here.
                logger.notice("rolling restart stopped: the replacement of worker \(old.worker.pid) exited before it was ready")
                record.replacing = nil
                listeners.unshare(slot: record.slot)
                rollingQueue.removeAll()
                _ = backoff.workerExited(readyFor: nil)
                return
            }
            // The replaced worker has drained: on to the next.
            continueRollingRestart()
            return
        }
        if expected || !settings.restartWorkers { return }
        // A live replacement (rolling restart) takes this worker's place: no respawn.
        if records.contains(where: { $0 != nil && $0!.replacing === record && !$0!.worker.isDead }) { return }
        switch backoff.workerExited(readyFor: wasReady ? now &- record.readyAt : nil) {
        case .giveUp(let failures):
            // errno 0: no system call failed; the workers did (the last one as `status`).
            failure = SystemError("workers keep failing to start: \(failures) exited in a row before listening (the last: \(status)); giving up", Errno(rawValue: 0))
            logger.debug("\(failure!)")
            shutdown(reason: "workers cannot start")
        case .restart(let delay):
            logger.notice("restarting worker \(worker.id) in \(delay / 1_000_000) ms")
            record.respawnScheduled = true
            ring.timeout(nanoseconds: delay, userData: UserData(kind: PrimaryOperation.respawn.rawValue, index: UInt32(record.slot)))
        }
    }

    func respawn(slot: Int) {
        guard let old = records[slot], old.respawnScheduled else { return }
        old.respawnScheduled = false
        guard !shuttingDown else { return }
        do throws(SystemError) {
            _ = try fork(environment: old.environment, slot: slot)
        } catch {
            logger.error("restarting worker \(slot + 1) failed: \(error)")
        }
    }

    /// The worker is listening: it may get connections, and what it replaces may go.
    func workerBecameReady(_ r: WorkerRecord) {
        r.readyAt = monotonicNanoseconds()
        backoff.workerBecameReady()
        if let old = r.replacing {
            r.replacing = nil
            if old.worker.isDead {
                // The replaced worker died meanwhile (and was not respawned): go on.
                rollingCurrent = nil
                continueRollingRestart()
            } else {
                rollingCurrent = old
                startDraining(old)
            }
        }
        if !waiting.isEmpty { drainWaiting() }
    }

    // MARK: - Draining, scaling, rolling restart

    /// Asks a worker to finish what it has and exit. It gets no new connections from now;
    /// the drain message leaves after any hand-off already queued for it.
    func startDraining(_ r: WorkerRecord) {
        guard !r.draining, !r.worker.isDead else { return }
        r.draining = true
        r.drainStartedAt = monotonicNanoseconds()
        r.drainQueued = true
        r.worker.exitedAfterDisconnect = true
        loads[r.slot].eligible = false
        board.store(r.slot, .state, WorkerState.dead.rawValue)
        logger.debug("Worker \(r.worker.pid) draining")
        startSend(r)
    }

    /// SIGHUP: replaces every worker, one at a time, the new one ready before the old drains.
    func rollingRestart() {
        guard !shuttingDown else { return }
        let live = records.compactMap { $0 }.filter { !$0.worker.isDead && !$0.draining && $0.replacing == nil }
        let replacing = Set(records.compactMap { $0?.replacing.map(ObjectIdentifier.init) })
        for w in live where !replacing.contains(ObjectIdentifier(w)) && !rollingQueue.contains(where: { $0 === w }) {
            rollingQueue.append(w)
        }
        logger.notice("rolling restart of \(rollingQueue.count) workers")
        if rollingCurrent == nil { continueRollingRestart() }
    }

    func continueRollingRestart() {
        while rollingCurrent == nil, !rollingQueue.isEmpty, !shuttingDown {
            let old = rollingQueue.removeFirst()
            guard !old.worker.isDead, !old.draining else { continue }
            guard let slot = records.firstIndex(where: { $0 == nil || ($0!.worker.isDead && !$0!.respawnScheduled) }) else {
                logger.error("rolling restart: no free worker slot")
                rollingQueue.removeAll()
                return
            }
            do throws(SystemError) {
                // The replacement serves the old worker's listener (reuseport): no queue is orphaned.
                listeners.share(slot: old.slot, with: slot)
                let new = try fork(environment: old.environment, slot: slot)
                new.replacing = old
                rollingCurrent = new
            } catch {
                logger.error("rolling restart: fork failed: \(error)")
                listeners.unshare(slot: slot)
                rollingQueue.removeAll()
            }
        }
        if rollingCurrent == nil && rollingQueue.isEmpty { logger.debug("rolling restart done") }
    }

    /// SIGTTIN: one more worker.
    func scaleUp() {
        guard !shuttingDown else { return }
        let environment = records.compactMap { $0 }.last(where: { !$0.worker.isDead })?.environment ?? [:]
        do throws(SystemError) {
            let w = try fork(environment: environment)
            logger.notice("worker \(w.pid) added (SIGTTIN)")
        } catch {
            logger.error("SIGTTIN: fork failed: \(error)")
        }
    }

    /// SIGTTOU: one worker fewer, drained gracefully (the newest; never the last one).
    func scaleDown() {
        let live = records.compactMap { $0 }.filter { !$0.worker.isDead && !$0.draining }
        guard live.count > 1, let victim = live.max(by: { $0.worker.id < $1.worker.id }) else {
            logger.notice("SIGTTOU: one worker left; not retiring it")
            return
        }
        logger.notice("retiring worker \(victim.worker.pid) (SIGTTOU)")
        // Its reuseport listener's queue goes on being served (by the primary) while it drains.
        for fd in listeners.release(slot: victim.slot) { startAccepting(fd) }
        startDraining(victim)
    }

    // MARK: - Shutdown

    /// How long the listeners keep serving, with new handshakes refused, before the workers
    /// are asked to drain: handshakes already under way complete into the accept queue and
    /// are served. A loopback handshake takes microseconds; 200 ms covers a slow network's
    /// round trip.
    static let acceptGraceNanoseconds: UInt64 = 200_000_000

    /// A graceful stop, in steps, so that no connection the kernel completes is lost:
    /// 1. now: every listener the primary created stops taking new connections (a socket
    ///    filter drops new SYNs: such clients are refused at connect time, once the
    ///    listener is closed, never reset after a handshake), while everything already
    ///    queued or under way is still accepted and served as usual;
    /// 2. `acceptGraceNanoseconds` later (`stopAccepting`): the primary's accepts stop, and
    ///    it sweeps what is left in its accept queues (Acceptor);
    /// 3. once swept (`drainWorkersOnceSwept`), what was swept is handed out and every
    ///    worker drains, itself sweeping the listeners it serves; SIGKILL for what remains
    ///    after `shutdownTimeoutNanoseconds`;
    /// 4. once every worker is gone (`closeListeners`), a last sweep answers 503 to anything
    ///    still queued, and the listeners are closed.
    /// A `--listen-fd` socket (systemd's) outlives this process, so it is left unfiltered:
    /// the next instance serves what queues on it meanwhile.
    public func shutdown(reason: String) {
        guard !shuttingDown else { return }
        logger.debug("shutting down (\(reason))")
        shuttingDown = true
        board.store(header: .draining, 1)
        for r in records.compactMap({ $0 }) { r.respawnScheduled = false }
        for fd in listeners.created {
            do throws(SystemError) {
                try Socket.refuseNewConnections(fd)
            } catch {
                logger.notice("could not stop new connections on a listener: \(error)")
            }
        }
        ring.timeout(nanoseconds: Self.acceptGraceNanoseconds, userData: UserData(kind: PrimaryOperation.acceptGrace.rawValue))
    }

    /// The second step of `shutdown`: no more accepting; the primary's queues are swept.
    func stopAccepting() {
        acceptingStopped = true
        acceptor.stop(sweep: true, ring: ring)
        acceptor.takeSwept { file in
            // Never with hand-offs through the ring (they need ACCEPT_DONTWAIT): a process
            // descriptor cannot go that way, so it is answered.
            let c = HeldConnection(file: file, acceptedAt: monotonicNanoseconds())
            if handoffThroughRing { answerUnavailable(file) } else if let peeks { peekHeader(c, peeks) } else { route(c, avoiding: nil) }
        }
        // Counted from here whatever the sweep takes: the SIGKILL fallback is always armed.
        ring.timeout(nanoseconds: settings.shutdownTimeoutNanoseconds,
                     userData: UserData(kind: PrimaryOperation.shutdownTimer.rawValue))
        drainWorkersOnceSwept()
    }

    /// The third step of `shutdown`, once the sweep has delivered its last connection.
    func drainWorkersOnceSwept() {
        guard acceptingStopped, !workersDraining, acceptor.isIdle, peeks?.isEmpty ?? true else { return }
        workersDraining = true
        // What the sweep routed leaves before the drain message (startSend's order).
        flushHandoffs()
        for r in records.compactMap({ $0 }) where !r.worker.isDead { startDraining(r) }
        for c in waiting.takeAll() { answerUnavailable(c.file) }
    }

    /// After the last worker exited at shutdown: what is still queued on a listener (a
    /// handshake slower than the grace) gets a 503 through the same sweep, then the
    /// listeners close.
    func closeListeners() {
        let before = unavailableAnswers
        for fd in listeners.created {
            acceptor.remove(fd, ring: ring)
            acceptor.add(fd, owned: true, exclusive: true, ring: ring)
        }
        acceptor.takeSwept { answerUnavailable($0) }
        // No worker is left: every connection swept is routed to a 503.
        turnUntil { acceptor.isIdle && unavailable.inFlight == 0 }
        acceptor.closeListeners()
        let answered = unavailableAnswers - before
        if answered > 0 { logger.notice("answered 503 to \(answered) connections queued after the workers left") }
    }

    func forceKill() {
        for record in records.compactMap({ $0 }) where !record.worker.isDead {
            logger.notice("worker \(record.worker.pid) still running after the shutdown timeout: SIGKILL")
            killedAtShutdown = true
            ProcessControl.signal(record.worker.pid, SIGKILL)
        }
    }
}
