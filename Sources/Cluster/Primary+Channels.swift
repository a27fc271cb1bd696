import Glibc
import URing

// Messages between the primary and its workers, on the primary's ring.

extension Primary {
    func armReceive(_ r: WorkerRecord) {
        ring.receiveMessage(r.channel, r.incoming,
                            userData: UserData(kind: PrimaryOperation.receive.rawValue, generation: r.serial, index: UInt32(r.slot)))
        r.receiveArmed = true
    }

    func received(_ r: WorkerRecord, _ result: Int32) {
        r.receiveArmed = false
        guard r.worker.isConnected else {
            closeChannelIfIdle(r)
            return
        }
        guard result > 0 else {
            // End of the channel: the worker is leaving (or gone).
            channelClosed(r)
            return
        }
        r.incoming.receivedDescriptors(into: &r.received)
        let message = ClusterMessage.decode(UnsafeRawBufferPointer(start: r.incoming.data, count: Int(result)))
        // Only a user message carries a descriptor (`Worker.send(_:descriptor:)`): the first
        // goes to the handler, which owns it; any other is closed.
        var carried: Int32? = nil
        if case .userFromWorker = message, let first = r.received.first, hooks.workerDescriptorHandler != nil { carried = first }
        for fd in r.received where fd != carried { closeDescriptor(fd) }
        armReceive(r)
        switch message {
        case .online:
            logger.debug("Worker \(r.worker.pid) online")
            emit(.online, r.worker)
        case .listen(let host, let port):
            listenRequested(r, host: host, port: port)
        case .listening(let port, let ringNumber):
            reachRing(r, number: ringNumber)
            r.listening = true
            loads[r.slot].eligible = !r.draining
            board.store(r.slot, .state, WorkerState.listening.rawValue)
            logger.debug("Worker \(r.worker.pid) listening on port \(port)")
            emit(.listening(port: port), r.worker)
            workerBecameReady(r)
        case .refused(let position, let count):
            refuse(r, position: Int(position), count: Int(count))
        case .leaving:
            // Decided at the end of the turn, after every completion of this turn (the
            // primary's own SIGTERM among them, when the whole group got the signal).
            if leaveRequests.isEmpty { leaveRequestedAt = monotonicNanoseconds() }
            leaveRequests.append(r)
        case .userFromWorker(let bytes):
            emit(.message(bytes), r.worker)
            if let carried { hooks.workerDescriptorHandler?(r.worker, bytes, carried) }
        case .request(let id, let name, let payload):
            answer(r, id: id, name: name, payload: payload)
        case .listenReply, .handoff, .drain, .userFromPrimary, .reply, nil:
            logger.notice("worker \(r.worker.pid) sent an unexpected message; ignored")
        }
    }

    /// The worker was sent SIGTERM or SIGINT. When the whole cluster got it (Ctrl-C in a
    /// terminal, systemd's KillMode=control-group), the primary is stopping and drains every
    /// worker itself. A signal to this worker alone replaces it gracefully: a new worker
    /// first, then this one drains, as one step of a rolling restart.
    func handleLeaveRequests() {
        // When a host owns the stop signals (a ServiceGroup), the primary cannot see its own
        // SIGTERM pending: the host's stop reaches the loop a moment later, through the
        // executor. Waiting that long keeps a group-wide signal from starting replacements.
        if stopSignals.isEmpty && monotonicNanoseconds() &- leaveRequestedAt < Self.hostStopGraceNanoseconds { return }
        let requests = leaveRequests
        leaveRequests.removeAll()
        for r in requests { workerAskedToLeave(r) }
    }

    /// How long leave requests wait for a stop the host may be about to make (above).
    static let hostStopGraceNanoseconds: UInt64 = 100_000_000

    func workerAskedToLeave(_ r: WorkerRecord) {
        // During a stop's drain delay the cluster is stopping too: the group's signal reached
        // the workers as well as the primary (KillMode=control-group, Ctrl-C).
        guard !shuttingDown, !drainDelayStarted, !r.draining, !r.worker.isDead else { return }
        // A group signal reaches the primary too, but its signalfd read may not have
        // completed yet: a SIGTERM or SIGINT still pending means the cluster is stopping.
        if SignalReader.isPending(stopSignals) { return }
        if rollingCurrent === r || rollingQueue.contains(where: { $0 === r }) { return }
        if records.contains(where: { $0?.replacing === r }) { return }
        logger.notice("worker \(r.worker.pid) was asked to stop by a signal: replacing it")
        rollingQueue.append(r)
        if rollingCurrent == nil { continueRollingRestart() }
    }

    /// Failures of socket, bind or listen that a retry cannot mend (unlike EMFILE or ENOBUFS).
    static func listenFailureIsPermanent(_ errno: Errno) -> Bool {
        [EADDRINUSE, EADDRNOTAVAIL, EACCES, EPERM, EAFNOSUPPORT, EINVAL].contains(errno.rawValue)
    }

    func listenRequested(_ r: WorkerRecord, host: String, port: UInt16) {
        // A worker that starts while the cluster stops gets no listener (a new one would
        // take connections nobody serves).
        if shuttingDown {
            enqueueControl(r, ClusterMessage.listenReply(port: 0, errno: ESHUTDOWN).encoded(), nil)
            startSend(r)
            return
        }
        do throws(SystemError) {
            switch settings.mode {
            case .roundRobin:
                let l = try listeners.sharedListener(host: host, port: port)
                if l.created { startAccepting(l.fd) }
                enqueueControl(r, ClusterMessage.listenReply(port: l.port, errno: 0).encoded(), nil)
            case .shared:
                let l = try listeners.sharedListener(host: host, port: port)
                enqueueControl(r, ClusterMessage.listenReply(port: l.port, errno: 0).encoded(), l.fd)
            case .reuseport:
                let l = try listeners.reusePortListener(host: host, port: port, slot: r.slot)
                if let orphan = l.adopted { stopAccepting(on: orphan) }
                enqueueControl(r, ClusterMessage.listenReply(port: l.port, errno: 0).encoded(), l.fd)
            }
        } catch {
            if Self.listenFailureIsPermanent(error.errno) && !listeners.hasListener(host: host, port: port) {
                // The port is taken, the address is not this machine's, or privileges are
                // missing: no respawn can change that. Fail fast and once, as nginx and
                // gunicorn do; `run()` throws it, and the workers leave quietly.
                if failure == nil { failure = SystemError("listen on \(Socket.shown(host: host)):\(port)", error.errno) }
                logger.debug("listen on \(host):\(port) for worker \(r.worker.pid) failed: \(error); stopping")
                shutdown(reason: "cannot listen")
                enqueueControl(r, ClusterMessage.listenReply(port: 0, errno: ESHUTDOWN).encoded(), nil)
            } else {
                logger.notice("listen on \(host):\(port) for worker \(r.worker.pid) failed: \(error)")
                enqueueControl(r, ClusterMessage.listenReply(port: 0, errno: error.errno.rawValue).encoded(), nil)
            }
        }
        startSend(r)
    }

    func sendUser(_ bytes: [UInt8], to worker: Worker, descriptor: Int32? = nil) {
        guard let r = records[worker.id - 1], r.worker === worker, worker.isConnected else {
            if let descriptor { closeDescriptor(descriptor) }
            return
        }
        enqueueControl(r, ClusterMessage.userFromPrimary(bytes).encoded(), descriptor)
        startSend(r)
    }

    /// A worker's request: the handler registered for its name answers at once, on this
    /// loop; a missing handler or one that throws is an error reply, never silence.
    func answer(_ r: WorkerRecord, id: UInt64, name: String, payload: [UInt8]) {
        let reply: ClusterMessage
        if let handler = hooks.requestHandlers[name] {
            do {
                let bytes = try handler(r.worker, payload)
                if bytes.count + 10 > ClusterMessage.maxSize {
                    reply = .reply(id: id, outcome: .failed, payload: Array("the reply is \(bytes.count) bytes; at most \(ClusterMessage.maxSize - 10) fit in a message".utf8))
                } else {
                    reply = .reply(id: id, outcome: .answered, payload: bytes)
                }
            } catch {
                reply = .reply(id: id, outcome: .failed, payload: Array(String(describing: error).utf8.prefix(1024)))
            }
        } else {
            reply = .reply(id: id, outcome: .noHandler, payload: Array(name.utf8.prefix(1024)))
        }
        enqueueControl(r, reply.encoded(), nil)
        startSend(r)
    }

    /// Node's worker.disconnect(): the worker drains and exits, and is not replaced.
    func disconnect(_ worker: Worker) {
        guard let r = records[worker.id - 1], r.worker === worker, worker.isConnected else { return }
        for fd in listeners.release(slot: r.slot) where !shuttingDown { startAccepting(fd) }
        startDraining(r)
    }

    func channelClosed(_ r: WorkerRecord) {
        guard r.worker.isConnected else { return }
        r.worker.isConnected = false
        loads[r.slot].eligible = false
        logger.debug("Worker \(r.worker.pid) disconnected")
        emit(.disconnect, r.worker)
        Socket.shutdown(r.channel, .both)
        closeChannelIfIdle(r)
    }

    func closeChannelIfIdle(_ r: WorkerRecord) {
        if !r.worker.isConnected && !r.sendInFlight && !r.receiveArmed && r.channel >= 0 {
            closeDescriptor(r.channel)
            r.channel = -1
        }
    }

    func enqueueControl(_ r: WorkerRecord, _ bytes: [UInt8], _ fd: Int32?) {
        r.control.append((bytes, fd))
    }

    /// Sends the next message for this worker, if none is in flight: control messages
    /// first, then every pending connection (up to 253) in one hand-off.
    func startSend(_ r: WorkerRecord) {
        guard !r.sendInFlight, r.worker.isConnected, r.channel >= 0 else { return }
        if !r.control.isEmpty {
            let (bytes, fd) = r.control.removeFirst()
            r.outgoing.prepareSend(bytes, descriptor: fd)
            r.sendingIsHandoff = false
            r.sendingUserDescriptor = fd.flatMap { listeners.isOwned($0) ? nil : $0 }
        } else if handoffThroughRing && !r.handoffs.pending.isEmpty && !r.worker.isDead {
            // Through the ring; a drain waits until they are all delivered.
            sendThroughRing(r)
            return
        } else if !r.handoffs.pending.isEmpty && !r.worker.isDead {
            r.handoffs.startSending(max: MessageBuffer.maxDescriptors, into: &r.sendingFDs)
            let length = ClusterMessage.writeHandoff(count: UInt32(r.sendingFDs.count), into: r.outgoing.data)
            r.sendingFDs.withUnsafeBufferPointer { r.outgoing.prepareSend(length: length, descriptors: $0) }
            r.sendingIsHandoff = true
        } else if r.drainQueued && !r.handoffs.isSending {
            // After every hand-off already queued: the worker adopts them, then drains.
            r.drainQueued = false
            r.outgoing.prepareSend(ClusterMessage.drain(sweep: shuttingDown).encoded())
            r.sendingIsHandoff = false
        } else {
            return
        }
        ring.sendMessage(r.channel, r.outgoing,
                         userData: UserData(kind: PrimaryOperation.send.rawValue, generation: r.serial, index: UInt32(r.slot)))
        r.sendInFlight = true
    }

    func sent(_ r: WorkerRecord, _ result: Int32) {
        r.sendInFlight = false
        if let fd = r.sendingUserDescriptor {
            // The worker has its own copy now (or the send failed): the primary's goes.
            closeDescriptor(fd)
            r.sendingUserDescriptor = nil
        }
        if r.sendingIsHandoff {
            // Empty if the worker's exit already took the batch back.
            let delivered = result >= 0 && !r.worker.isDead
            let back = r.handoffs.sendCompleted(delivered: delivered, now: monotonicNanoseconds())
            if delivered { collectAcknowledgements(r) }
            reroute(back, avoiding: r.slot)
        }
        if r.worker.isConnected { startSend(r) } else { closeChannelIfIdle(r) }
    }
}
