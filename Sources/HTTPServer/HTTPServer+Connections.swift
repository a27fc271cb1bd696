import CLiburing
import Glibc
import HTTP1
import URing

// Serving one connection: completions go to its ConnectionLifecycle, which decides; this
// file only performs the actions it returns (submissions, shutdowns, the handler call).
// A slot returns to the free list when the lifecycle says `.release`: every operation
// submitted for it has completed, so a completion can never land on a newer connection.

extension HTTPServer {
    /// Takes a new connection into the table and starts reading it.
    func open(_ fd: Int32) {
        counters.connections += 1
        guard freeCount > 0 else {
            // At --max-connections: a clear answer, then close (best effort, never blocks).
            Unavailable.answer(fd, date: date)
            return
        }
        freeCount -= 1
        let index = Int(freeSlots[freeCount])
        slotHighWater = max(slotHighWater, index + 1)
        counters.active += 1
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let s = slots + index
        s.pointee.fd = fd
        s.pointee.generation = (s.pointee.generation &+ 1) & UserData.generationMask
        s.pointee.lifecycle.start(now: now)
        perform(index)
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
        guard index < slotCapacity, slots[index].generation == ud.generation,
              slots[index].lifecycle.state != .released else { return nil }
        return index
    }

    // MARK: - Completions

    func received(_ ud: UserData, _ result: Int32, _ flags: UInt32) {
        let hasBuffer = flags & IORING_CQE_F_BUFFER != 0
        let bufferID = hasBuffer ? BufferRing.bufferID(fromFlags: flags) : 0
        defer { if hasBuffer { buffers.recycle(bufferID) } }
        guard let index = slot(for: ud) else { return }
        let event: ConnectionLifecycle.Received
        if result > 0 && hasBuffer {
            event = .bytes(buffers.bytes(bufferID, count: Int(result)))
        } else if result == 0 {
            event = .endOfInput
        } else if result == -ENOBUFS {
            event = .noBuffers
        } else if result == -ECANCELED {
            event = .cancelled
        } else {
            event = .failed
        }
        slots[index].lifecycle.received(event, final: flags & IORING_CQE_F_MORE == 0)
        perform(index)
    }

    func sent(_ ud: UserData, _ result: Int32) {
        guard let index = slot(for: ud) else { return }
        slots[index].lifecycle.sendCompleted(Int(result))
        perform(index)
    }

    func delayElapsed(_ ud: UserData) {
        guard let index = slot(for: ud) else { return }
        counters.inflight -= 1
        if slots[index].lifecycle.delayCompleted(now: now) { counters.requests += 1 }
        perform(index)
    }

    func cancelFinished(_ ud: UserData) {
        guard let index = slot(for: ud) else { return }
        slots[index].lifecycle.cancelCompleted()
        perform(index)
    }

    func closeFinished(_ ud: UserData) {
        guard let index = slot(for: ud) else { return }
        slots[index].lifecycle.closeCompleted()
        perform(index)
    }

    // MARK: - Performing the lifecycle's actions

    /// Performs what the connection's lifecycle asks for until it asks for nothing more.
    func perform(_ index: Int) {
        let s = slots + index
        while true {
            switch s.pointee.lifecycle.next(now: now) {
            case .none:
                return
            case .armReceive:
                let sqe = ring.sqe()
                io_uring_prep_recv_multishot(sqe, s.pointee.fd, nil, 0, 0)
                sqe.pointee.flags |= CLiburing_IOSQE_BUFFER_SELECT()
                sqe.pointee.buf_group = Self.bufferGroup
                io_uring_sqe_set_data64(sqe, userData(.receive, index))
            case .cancelReceive:
                let sqe = ring.sqe()
                io_uring_prep_cancel64(sqe, userData(.receive, index), 0)
                io_uring_sqe_set_data64(sqe, userData(.cancel, index))
            case .send(let bytes, let count):
                let sqe = ring.sqe()
                io_uring_prep_send(sqe, s.pointee.fd, bytes, count, Int32(MSG_NOSIGNAL))
                io_uring_sqe_set_data64(sqe, userData(.send, index))
            case .dispatch(let head, let body):
                answer(index, head: head, body: body)
            case .armDelay(let nanoseconds):
                counters.inflight += 1
                s.pointee.timer = __kernel_timespec(nanoseconds: nanoseconds)
                let sqe = ring.sqe()
                io_uring_prep_timeout(sqe, ConnectionSlot.timer(of: s), 0, 0)
                io_uring_sqe_set_data64(sqe, userData(.delay, index))
            case .cancelDelay:
                let sqe = ring.sqe()
                io_uring_prep_timeout_remove(sqe, userData(.delay, index), 0)
                io_uring_sqe_set_data64(sqe, userData(.cancel, index))
            case .shutdownWrite:
                Glibc.shutdown(s.pointee.fd, Int32(SHUT_WR))
            case .shutdownBoth:
                Glibc.shutdown(s.pointee.fd, Int32(SHUT_RDWR))
            case .close:
                counters.active -= 1
                let sqe = ring.sqe()
                io_uring_prep_close(sqe, s.pointee.fd)
                io_uring_sqe_set_data64(sqe, userData(.close, index))
                s.pointee.fd = -1
            case .release:
                freeSlots[freeCount] = UInt32(index)
                freeCount += 1
                stopIfDrained()
                return
            }
        }
    }

    /// Calls the handler for a dispatched request and reports its outcome.
    func answer(_ index: Int, head: RequestHead, body: ByteRange) {
        let s = slots + index
        let request = s.pointee.lifecycle.request(head, body: body)
        var writer = ResponseWriter(out: ConnectionSlot.output(of: s), date: date, isHead: head.method == .head,
                                    minorVersion: head.minorVersion,
                                    keepAlive: head.keepAlive && !s.pointee.lifecycle.readClosed && !draining)
        let outcome = handler.handle(request, &writer, HandlerContext(counters: counters))
        if !writer.hasResponded {
            writer.respond(.internalServerError, body: "handler wrote no response\n")
        }
        switch outcome {
        case .done:
            s.pointee.lifecycle.handled(keepAlive: writer.keepAlive, now: now)
            counters.requests += 1
        case .delay(let nanoseconds):
            // Held (and so is everything after it) until the timer fires.
            if s.pointee.lifecycle.handled(keepAlive: writer.keepAlive, delayNanoseconds: nanoseconds, now: now) {
                counters.requests += 1
            }
        }
    }
}
