import CLiburing
import Glibc
import HTTP1
import URing

// Reading, answering, sending and closing one connection.
//
// Closing follows the operations' lifecycle (after monoio's): a slot returns to the free
// list only when every operation submitted for it has completed, so its buffers and timer
// stay valid for the kernel and a completion can never land on a newer connection.
// After a final response, our side is shut down and we keep reading (discarding) until the
// peer closes or `lingerNanoseconds` pass: closing with unread input would send a reset
// that can destroy the response before the client reads it.

extension HTTPServer {
    func received(_ ud: UserData, _ result: Int32, _ flags: UInt32) {
        let hasBuffer = flags & IORING_CQE_F_BUFFER != 0
        let bufferID = hasBuffer ? BufferRing.bufferID(fromFlags: flags) : 0
        guard let index = slot(for: ud) else {
            if hasBuffer { buffers.recycle(bufferID) }
            return
        }
        let s = slots + index
        if flags & IORING_CQE_F_MORE == 0 {
            s.pointee.receiveArmed = false
            s.pointee.inflight -= 1
        }
        if result > 0 {
            if s.pointee.state == .open && !s.pointee.closeAfterSend {
                s.pointee.input.append(buffers.bytes(bufferID, count: Int(result)))
                if s.pointee.input.count > maxBufferedInput {
                    // Pipelined far beyond what one request may be, while we could not answer
                    // (a delayed response): this client is not waiting for answers.
                    if hasBuffer { buffers.recycle(bufferID) }
                    reject(index, .contentTooLarge)
                    return
                }
            }
            if hasBuffer { buffers.recycle(bufferID) }
            switch s.pointee.state {
            case .open:
                drive(index)
                if s.pointee.state == .open && !s.pointee.receiveArmed && !s.pointee.readClosed { armReceive(index) }
            case .lingering:
                if !s.pointee.receiveArmed { armReceive(index) }
            case .closing, .free:
                if s.pointee.inflight == 0 { release(index) }
            }
            return
        }
        if hasBuffer { buffers.recycle(bufferID) }
        switch s.pointee.state {
        case .open:
            if result == 0 {
                // The peer finished sending. Answer what is complete, then close.
                s.pointee.readClosed = true
                drive(index)
                if s.pointee.state == .open && !s.pointee.sending && s.pointee.output.isEmpty && !s.pointee.delayed {
                    closeNow(index)
                } else if s.pointee.state == .open {
                    s.pointee.closeAfterSend = true
                }
            } else if result == -ENOBUFS {
                // The buffer ring ran dry for a moment: read again.
                if !s.pointee.receiveArmed { armReceive(index) }
            } else {
                closeNow(index)
            }
        case .lingering:
            if result == -ENOBUFS {
                if !s.pointee.receiveArmed { armReceive(index) }
            } else {
                closeNow(index)
            }
        case .closing, .free:
            if s.pointee.inflight == 0 { release(index) }
        }
    }

    /// The most input a connection may buffer: a request at every limit, plus a read.
    var maxBufferedInput: Int {
        let l = configuration.limits
        return l.maxTargetBytes + l.maxHeaderBytes + 2 * l.maxBodyBytes + configuration.receiveBufferSize + 64 * 1024
    }

    /// Runs the state machine over the buffered input, answering every complete request,
    /// then sends what was produced in one send.
    func drive(_ index: Int) {
        let s = slots + index
        while s.pointee.state == .open && !s.pointee.delayed && !s.pointee.closeAfterSend {
            guard let base = s.pointee.input.base, s.pointee.input.count > 0 else { break }
            var count = s.pointee.input.count
            let action = s.pointee.machine.process(base, count: &count, now: now, fields: fields)
            s.pointee.input.count = count
            switch action {
            case .needMore:
                if s.pointee.readClosed { s.pointee.closeAfterSend = true }
                flush(index)
                return
            case .sendContinue:
                s.pointee.output.append(ResponseWriter.continueLine)
            case .reject(let status):
                reject(index, status)
                return
            case .dispatch(let head, let body, let consumed):
                answer(index, head: head, body: body, consumed: consumed)
            }
        }
        flush(index)
    }

    func answer(_ index: Int, head: RequestHead, body: ByteRange, consumed: Int) {
        let s = slots + index
        let mark = s.pointee.output.count
        let request = Request(head: head, bytes: s.pointee.input.bytes,
                              fields: UnsafeBufferPointer(rebasing: fields[0..<head.fieldCount]), body: body)
        var writer = ResponseWriter(out: ConnectionSlot.output(of: s), date: date, isHead: head.method == .head,
                                    minorVersion: head.minorVersion,
                                    keepAlive: head.keepAlive && !s.pointee.readClosed && !draining)
        let outcome = handler.handle(request, &writer, HandlerContext(counters: counters))
        if !writer.hasResponded {
            writer.respond(.internalServerError, body: "handler wrote no response\n")
        }
        let keepAlive = writer.keepAlive
        switch outcome {
        case .done:
            finishRequest(index, keepAlive: keepAlive, consumed: consumed)
        case .delay(let nanoseconds):
            // Hold this response (and so everything after it) until the timer fires.
            let produced = s.pointee.output.count - mark
            s.pointee.held.count = 0
            s.pointee.held.append(UnsafeRawBufferPointer(start: s.pointee.output.base! + mark, count: produced))
            s.pointee.output.count = mark
            s.pointee.delayed = true
            counters.inflight += 1
            s.pointee.delayKeepAlive = keepAlive
            s.pointee.delayConsumed = consumed
            s.pointee.timer = __kernel_timespec(tv_sec: Int64(nanoseconds / 1_000_000_000),
                                               tv_nsec: Int64(nanoseconds % 1_000_000_000))
            let sqe = ring.sqe()
            io_uring_prep_timeout(sqe, ConnectionSlot.timer(of: s), 0, 0)
            io_uring_sqe_set_data64(sqe, userData(.delay, index))
            s.pointee.inflight += 1
        }
    }

    func finishRequest(_ index: Int, keepAlive: Bool, consumed: Int) {
        let s = slots + index
        counters.requests += 1
        s.pointee.machine.responded(keepAlive: keepAlive, now: now)
        s.pointee.input.removeFirst(consumed)
        if !keepAlive { s.pointee.closeAfterSend = true }
    }

    func delayElapsed(_ ud: UserData) {
        guard let index = slot(for: ud) else { return }
        let s = slots + index
        s.pointee.inflight -= 1
        s.pointee.delayed = false
        counters.inflight -= 1
        guard s.pointee.state == .open else {
            if s.pointee.state == .closing && s.pointee.inflight == 0 { release(index) }
            return
        }
        s.pointee.output.append(s.pointee.held.bytes)
        s.pointee.held.count = 0
        finishRequest(index, keepAlive: s.pointee.delayKeepAlive, consumed: s.pointee.delayConsumed)
        drive(index)
    }

    /// Answers with an error status and closes after sending it.
    func reject(_ index: Int, _ status: HTTPStatus) {
        let s = slots + index
        s.pointee.machine.close()
        ResponseWriter.writeError(into: &s.pointee.output, status: status, date: date)
        s.pointee.closeAfterSend = true
        flush(index)
    }

    /// Starts a send of everything queued, unless one is in flight (its completion calls back).
    func flush(_ index: Int) {
        let s = slots + index
        guard s.pointee.state == .open, !s.pointee.sending else { return }
        if s.pointee.output.isEmpty {
            if s.pointee.closeAfterSend && !s.pointee.delayed { finish(index) }
            return
        }
        swap(&s.pointee.output, &s.pointee.flight)
        s.pointee.flightOffset = 0
        submitSend(index)
    }

    func submitSend(_ index: Int) {
        let s = slots + index
        let sqe = ring.sqe()
        let offset = s.pointee.flightOffset
        io_uring_prep_send(sqe, s.pointee.fd, s.pointee.flight.base! + offset, s.pointee.flight.count - offset, Int32(MSG_NOSIGNAL))
        io_uring_sqe_set_data64(sqe, userData(.send, index))
        s.pointee.sending = true
        s.pointee.sendDeadline = now &+ configuration.timeouts.headerNanoseconds
        s.pointee.inflight += 1
    }

    func sent(_ ud: UserData, _ result: Int32) {
        guard let index = slot(for: ud) else { return }
        let s = slots + index
        s.pointee.inflight -= 1
        s.pointee.sending = false
        guard s.pointee.state == .open else {
            if s.pointee.state == .closing && s.pointee.inflight == 0 { release(index) }
            return
        }
        if result < 0 {
            closeNow(index)
            return
        }
        s.pointee.flightOffset += Int(result)
        if s.pointee.flightOffset < s.pointee.flight.count {
            submitSend(index)  // a short send: the rest goes next, still in order
            return
        }
        s.pointee.flight.count = 0
        s.pointee.flight.shrink(ifAbove: 256 * 1024)
        flush(index)
    }

    /// The last response is out: shut our side and linger, or close at once if the peer is gone.
    func finish(_ index: Int) {
        let s = slots + index
        if s.pointee.readClosed || !s.pointee.receiveArmed {
            closeNow(index)
            return
        }
        Glibc.shutdown(s.pointee.fd, Int32(SHUT_WR))
        s.pointee.state = .lingering
        s.pointee.lingerDeadline = now &+ configuration.lingerNanoseconds
        s.pointee.input.count = 0
    }

    /// Cancels the connection's reads and closes its descriptor.
    func closeNow(_ index: Int) {
        let s = slots + index
        guard s.pointee.state == .open || s.pointee.state == .lingering else { return }
        s.pointee.state = .closing
        s.pointee.machine.close()
        counters.active -= 1
        if s.pointee.sending {
            // Neither a cancel of the recv nor IORING_OP_CLOSE ends a send waiting for a client
            // that does not read: shutting the socket down does, so the slot can be reused.
            Glibc.shutdown(s.pointee.fd, Int32(SHUT_RDWR))
        }
        if s.pointee.receiveArmed {
            let sqe = ring.sqe()
            io_uring_prep_cancel64(sqe, userData(.receive, index), 0)
            io_uring_sqe_set_data64(sqe, userData(.cancel, index))
            s.pointee.inflight += 1
        }
        let sqe = ring.sqe()
        io_uring_prep_close(sqe, s.pointee.fd)
        io_uring_sqe_set_data64(sqe, userData(.close, index))
        s.pointee.inflight += 1
        s.pointee.fd = -1
    }

    func operationFinished(_ ud: UserData) {
        guard let index = slot(for: ud) else { return }
        slots[index].inflight -= 1
        if slots[index].state == .closing && slots[index].inflight == 0 { release(index) }
    }

    /// Every operation on the slot has completed: it may be reused.
    func release(_ index: Int) {
        defer { stopIfDrained() }
        let s = slots + index
        s.pointee.state = .free
        s.pointee.input.count = 0
        s.pointee.output.count = 0
        s.pointee.flight.count = 0
        s.pointee.held.count = 0
        s.pointee.input.shrink(ifAbove: 64 * 1024)
        s.pointee.output.shrink(ifAbove: 64 * 1024)
        s.pointee.held.shrink(ifAbove: 64 * 1024)
        freeSlots[freeCount] = UInt32(index)
        freeCount += 1
    }
}
