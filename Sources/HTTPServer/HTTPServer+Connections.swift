import Glibc
import HTTP1
import URing

// Serving one connection: completions go to its ConnectionLifecycle, which decides; this
// file only performs the actions it returns (submissions, shutdowns, the handler call).
// A slot returns to the free list when the lifecycle says `.release`: every operation
// submitted for it has completed, so a completion can never land on a newer connection.

extension HTTPServer {
    /// Takes a new connection into the table and starts reading it. TCP_NODELAY is not set
    /// here: a connection inherits it from its listener (Acceptor.add sets it), so no
    /// system call is made per connection.
    func open(_ file: Descriptor) {
        counters.connections += 1
        guard freeCount > 0 else {
            // At --max-connections: a clear answer, then close (best effort, never blocks).
            unavailable.answer(file, ring: ring, date: date)
            return
        }
        freeCount -= 1
        let index = Int(freeSlots[freeCount])
        if index >= slotHighWater {
            (slots + slotHighWater).initialize(repeating: slotTemplate, count: index + 1 - slotHighWater)
            slotHighWater = index + 1
        }
        counters.active += 1
        let s = slots + index
        s.pointee.file = file
        s.pointee.client = nil
        s.pointee.peerNameAsked = 0
        s.pointee.generation = (s.pointee.generation &+ 1) & UserData.generationMask
        s.pointee.lifecycle.start(now: now)
        perform(index)
    }

    @inline(__always)
    func userData(_ kind: OperationKind, _ index: Int) -> UserData {
        UserData(kind: kind.rawValue, generation: slots[index].generation, index: UInt32(index))
    }

    /// The slot a completion belongs to, or nil for a stale one (never expected: slots are
    /// reused only after every operation on them has completed).
    @inline(__always)
    func slot(for ud: UserData) -> Int? {
        let index = Int(ud.index)
        guard index < slotHighWater, slots[index].generation == ud.generation,
              slots[index].lifecycle.state != .released else { return nil }
        return index
    }

    // MARK: - Completions

    func received(_ c: Completion) {
        // The kernel's buffer goes back at once, whatever became of the connection: its
        // bytes are copied into the connection's own buffer below.
        let bufferID = c.bufferID
        defer { if let bufferID { buffers.recycle(bufferID) } }
        guard let index = slot(for: c.userData) else { return }
        let event: ConnectionLifecycle.Received
        switch c.received {
        case .bytes(let id, let count): event = .bytes(buffers.bytes(id, count: count))
        case .endOfInput: event = .endOfInput
        case .noBuffers: event = .noBuffers
        case .canceled: event = .cancelled
        case .failed: event = .failed
        }
        slots[index].lifecycle.received(event, final: !c.hasMore)
        perform(index)
    }

    func sent(_ c: Completion) {
        guard let index = slot(for: c.userData) else { return }
        slots[index].lifecycle.sendCompleted(Int(c.result))
        perform(index)
    }

    func delayElapsed(_ ud: UserData) {
        guard let index = slot(for: ud) else { return }
        counters.inflight -= 1
        if slots[index].lifecycle.delayCompleted(now: now) { counters.requests += 1 }
        perform(index)
    }

    /// The client's address came (or could not be had). Asked for 16 bytes first (IPv4, the
    /// common case, in one operation); an IPv6 peer's address is longer, so it is asked
    /// again for 28.
    func peerNamed(_ c: Completion) {
        guard let index = slot(for: c.userData) else { return }
        let s = slots + index
        let raw = UnsafeRawBufferPointer(start: ConnectionSlot.peerName(of: s), count: Int(max(0, c.result)))
        let isIPv6 = c.result >= 2 && raw.loadUnaligned(as: UInt16.self) == UInt16(AF_INET6)
        let again = isIPv6 && s.pointee.peerNameAsked < 28
        if !again { s.pointee.client = ClientAddress(sockaddr: raw) }
        s.pointee.lifecycle.peerNameCompleted(again: again)
        if !again, let proxy = configuration.proxyProtocol, !proxy.trusts(s.pointee.client) {
            s.pointee.lifecycle.refuseProxy(.untrusted)
        }
        perform(index)
    }

    func cancelFinished(_ ud: UserData) {
        guard let index = slot(for: ud) else { return }
        slots[index].lifecycle.cancelCompleted()
        perform(index)
    }

    func closeFinished(_ c: Completion) {
        c.closed()
        guard let index = slot(for: c.userData) else { return }
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
            case .askPeerName:
                s.pointee.peerNameAsked = s.pointee.peerNameAsked == 0 ? 16 : 28
                ring.peerName(s.pointee.file, into: ConnectionSlot.peerName(of: s), length: s.pointee.peerNameAsked,
                              userData: userData(.peerName, index))
            case .armReceive:
                ring.receiveMultishot(s.pointee.file, bufferGroup: Self.bufferGroup, userData: userData(.receive, index))
            case .cancelReceive:
                ring.cancel(userData(.receive, index), userData: userData(.cancel, index))
            case .send(let bytes, let count):
                ring.send(s.pointee.file, bytes, count: count, userData: userData(.send, index))
            case .dispatch(let head, let body):
                answer(index, head: head, body: body)
            case .armDelay(let nanoseconds):
                counters.inflight += 1
                ring.timeout(nanoseconds: nanoseconds, userData: userData(.delay, index))
            case .cancelDelay:
                ring.removeTimeout(userData(.delay, index), userData: userData(.cancel, index))
            case .shutdownWrite:
                shutdown(index, writeOnly: true)
            case .shutdownBoth:
                shutdown(index, writeOnly: false)
            case .close:
                counters.active -= 1
                ring.close(s.pointee.file, userData: userData(.close, index))
                s.pointee.file = .none
            case .abandonHandler:
                if let request = awaited.removeValue(forKey: UInt32(index)) {
                    counters.inflight -= 1
                    request.abandon()
                }
            case .offerBody(let head):
                var request = s.pointee.lifecycle.request(head, body: ByteRange(start: head.headEnd, count: 0))
                request.clientAddress = s.pointee.client
                s.pointee.lifecycle.answerOffer(stream: handler.streamsBody(request))
            case .bodyPart(let bytes, let count):
                if let sink = awaited[UInt32(index)]?.sink {
                    sink.part(UnsafeRawBufferPointer(start: bytes, count: count))
                } else {
                    s.pointee.lifecycle.bodyTaken(count)  // nobody reads it: dropped
                }
            case .bodyEnd:
                takeSink(index)?.end()
            case .bodyCut:
                takeSink(index)?.cut()
            case .lendDescriptor:
                if let waiter = awaited[UInt32(index)]?.lendWaiter {
                    awaited[UInt32(index)]!.lendWaiter = nil
                    waiter.resume(returning: s.pointee.file)
                } else {
                    s.pointee.lifecycle.descriptorReturned()  // nobody to borrow it any more
                }
            case .streamRoom:
                if let waiter = awaited[UInt32(index)]?.roomWaiter {
                    awaited[UInt32(index)]!.roomWaiter = nil
                    waiter.resume()
                }
            case .proxied(let source):
                // The balancer's word for the client; without one (its own health check), the peer.
                if let source { s.pointee.client = source }
            case .proxyRefused:
                counters.proxyRejects += 1
            case .release:
                freeSlots[freeCount] = UInt32(index)
                freeCount += 1
                stopIfDrained()
                return
            }
        }
    }

    /// A direct descriptor has only the ring's shutdown (run on a kernel worker thread, but
    /// these are the rare paths: a close the server decides while the client may still
    /// send, an error, a drain; a client's own `Connection: close` needs none),
    /// which completes later (`shutdownFinished`); a process descriptor's is a plain system
    /// call, cheaper, and complete at once.
    func shutdown(_ index: Int, writeOnly: Bool) {
        let file = slots[index].file
        if file.isDirect {
            ring.shutdown(file, writeOnly: writeOnly, userData: userData(.shutdown, index))
        } else {
            Socket.shutdown(file.value, writeOnly ? .write : .both)
            slots[index].lifecycle.shutdownCompleted()
        }
    }

    func shutdownFinished(_ ud: UserData) {
        guard let index = slot(for: ud) else { return }
        slots[index].lifecycle.shutdownCompleted()
        perform(index)
    }

    /// Whether an answer may leave the connection open: the request asked for it, the client
    /// has not ended its side, the loop is not draining, and no body of it is left unread.
    @inline(__always)
    func keepsAlive(_ index: Int, _ requested: Bool) -> Bool {
        requested && !slots[index].lifecycle.readClosed && !draining && !slots[index].lifecycle.bodyStreaming
    }

    /// The streamed request body's reader, taken from the awaited request (it hears once).
    func takeSink(_ index: Int) -> (any RequestBodySink)? {
        guard let sink = awaited[UInt32(index)]?.sink else { return nil }
        awaited[UInt32(index)]!.sink = nil
        return sink
    }

    /// Calls the handler for a dispatched request and reports its outcome.
    func answer(_ index: Int, head: RequestHead, body: ByteRange) {
        let s = slots + index
        var request = s.pointee.lifecycle.request(head, body: body)
        request.clientAddress = s.pointee.client
        var writer = ResponseWriter(out: ConnectionSlot.output(of: s), date: date, isHead: head.method == .head,
                                    minorVersion: head.minorVersion, keepAlive: keepsAlive(index, head.keepAlive))
        let dispatch = PendingResponse.Slot(index: UInt32(index), generation: s.pointee.generation,
                                            serial: s.pointee.lifecycle.dispatchSerial)
        let context = HandlerContext(counters: counters, host: asHost, slot: dispatch)
        // A handler that answers another connection's ticket can dispatch that connection's
        // next request from inside its own call: the outer call's state is kept aside.
        var outer: (PendingResponse.Slot, ReplyHead, Bool?, Task<Void, Never>?, (any RequestBodySink)?)? = nil
        if callDepth > 0 {
            outer = (currentDispatch, currentReply, answeredInCall, taskOfDispatch, sinkOfDispatch)
            answeredInCall = nil
            taskOfDispatch = nil
            sinkOfDispatch = nil
        }
        callDepth += 1
        defer {
            callDepth -= 1
            if let outer { (currentDispatch, currentReply, answeredInCall, taskOfDispatch, sinkOfDispatch) = outer }
        }
        if let health, let route = health.route(request.path) {
            HealthRoutes.answer(route, ready: isReady, method: head.method, &writer)
            s.pointee.lifecycle.handled(keepAlive: writer.keepAlive, now: now)
            counters.requests += 1
            accessLog?.record(request, second: dateSecond, status: writer.statusCode, bodyBytes: writer.bodyCount,
                              durationNanoseconds: monotonicNanoseconds() &- now)
            return
        }
        currentDispatch = dispatch
        currentReply = ReplyHead(isHead: head.method == .head, minorVersion: head.minorVersion, keepAlive: head.keepAlive)
        let outcome = handler.handle(request, &writer, context)
        currentDispatch.serial = 0
        if let keepAlive = answeredInCall {
            // Its task answered before the handler returned: complete now, as a sync answer.
            answeredInCall = nil
            taskOfDispatch = nil
            sinkOfDispatch?.cut()
            sinkOfDispatch = nil
            precondition(!writer.hasResponded, "a request gets one response (its writer and its ticket both answered)")
            s.pointee.lifecycle.handled(keepAlive: keepAlive, now: now)
            counters.requests += 1
            accessLog?.record(request, second: dateSecond, status: lastAnswer.status, bodyBytes: lastAnswer.bodyBytes,
                              durationNanoseconds: monotonicNanoseconds() &- now)
            return
        }
        if case .pending(let timeout) = outcome {
            s.pointee.lifecycle.suspended(timeoutNanoseconds: timeout > 0 ? timeout : configuration.handlerTimeoutNanoseconds,
                                          now: now)
            counters.inflight += 1
            awaited[UInt32(index)] = AwaitedRequest(head: currentReply, task: taskOfDispatch, sink: sinkOfDispatch,
                                                    logLine: accessLog?.prefix(request, second: dateSecond), startedAt: now)
            taskOfDispatch = nil
            sinkOfDispatch = nil
            return
        }
        if let task = taskOfDispatch {
            // Registered, but the handler answered now: nothing will take its answer.
            task.cancel()
            taskOfDispatch = nil
        }
        if let sink = sinkOfDispatch {
            sinkOfDispatch = nil
            sink.cut()
        }
        if !writer.hasResponded {
            writer.respond(.internalServerError, body: "handler wrote no response\n")
        }
        switch outcome {
        case .done:
            s.pointee.lifecycle.handled(keepAlive: writer.keepAlive, now: now)
            counters.requests += 1
            accessLog?.record(request, second: dateSecond, status: writer.statusCode, bodyBytes: writer.bodyCount,
                              durationNanoseconds: monotonicNanoseconds() &- now)
        case .delay(let nanoseconds):
            // Held (and so is everything after it) until the timer fires.
            if s.pointee.lifecycle.handled(keepAlive: writer.keepAlive, delayNanoseconds: nanoseconds, now: now) {
                counters.requests += 1
            }
            // Logged now, its duration the delay it will take.
            accessLog?.record(request, second: dateSecond, status: writer.statusCode, bodyBytes: writer.bodyCount,
                              durationNanoseconds: monotonicNanoseconds() &- now &+ nanoseconds)
        case .pending:
            break
        }
    }
}
