import HTTP1
import URing

// Responses given later: a handler returned `.pending`, and its task, on this loop's
// executor, answers through a PendingResponse. The connection's lifecycle holds the rules
// (what waits behind it, the deadline, abandoning on close); this file keeps the little the
// answer's head needs and the task to cancel, and writes the answer when it comes.

/// What an answer's head needs of its request: plain data, set per dispatch.
struct ReplyHead {
    var isHead: Bool
    var minorVersion: UInt8
    var keepAlive: Bool
}

/// What the server keeps of a request whose handler answers later.
struct AwaitedRequest {
    var head: ReplyHead
    var task: Task<Void, Never>? = nil
    /// Where a streamed request body's parts go.
    var sink: (any RequestBodySink)? = nil
    /// A streamed answer has no body to write (HEAD, 204, 304).
    var bodyless = false
    /// A streamed answer's framing, once its head is written.
    var framing: BodyFraming? = nil
    /// Bytes a Content-Length stream still owes.
    var remaining = 0
    /// A stream writer waiting for the unsent output to drain.
    var roomWaiter: CheckedContinuation<Void, any Error>? = nil
    /// A stream's producer waiting to borrow the connection's descriptor.
    var lendWaiter: CheckedContinuation<Descriptor, any Error>? = nil
    /// The first half of its access-log line (nil: no log), and when it was dispatched.
    var logLine: [UInt8]? = nil
    var startedAt: UInt64 = 0
    /// A streamed answer's status, and the body bytes it has sent (for the log).
    var status = 0
    var streamedBytes = 0

    /// Nothing will take this request's answer: its task is cancelled, and whatever waits
    /// in it (a stream writer, a body reader) is told.
    func abandon() {
        task?.cancel()
        roomWaiter?.resume(throwing: CancellationError())
        lendWaiter?.resume(throwing: CancellationError())
        sink?.cut()
    }
}

extension HTTPServer: PendingResponseHost {
    func resume(_ slot: PendingResponse.Slot, _ write: (inout ResponseWriter) -> Void) -> Bool {
        if isInCall(slot) {
            // Inside the handler's own call (its task has not suspended once): written now,
            // completed by `answer` when the handler returns.
            guard answeredInCall == nil else { return false }
            answeredInCall = self.write(Int(slot.index), currentReply, write)
            return true
        }
        guard let index = awaitedIndex(slot), let request = awaited.removeValue(forKey: slot.index) else { return false }
        counters.inflight -= 1
        let keepAlive = self.write(index, request.head, write)
        slots[index].lifecycle.resumed(keepAlive: keepAlive, now: now)
        counters.requests += 1
        if let line = request.logLine {
            accessLog?.finish(line, status: lastAnswer.status, bodyBytes: lastAnswer.bodyBytes,
                              durationNanoseconds: monotonicNanoseconds() &- request.startedAt)
        }
        perform(index)
        return true
    }

    /// Writes an answer into the connection's output; returns its keep-alive decision.
    func write(_ index: Int, _ request: ReplyHead, _ write: (inout ResponseWriter) -> Void) -> Bool {
        let s = slots + index
        var writer = ResponseWriter(out: ConnectionSlot.output(of: s), date: date, isHead: request.isHead,
                                    minorVersion: request.minorVersion, keepAlive: keepsAlive(index, request.keepAlive))
        write(&writer)
        if !writer.hasResponded {
            writer.respond(.internalServerError, body: "handler wrote no response\n")
        }
        lastAnswer = (writer.statusCode, writer.bodyCount)
        return writer.keepAlive
    }

    func isInCall(_ slot: PendingResponse.Slot) -> Bool { slot.serial != 0 && slot == currentDispatch }

    /// The ticket's slot index while it still holds the same connection (not a newer one).
    func liveIndex(_ slot: PendingResponse.Slot) -> Int? {
        let index = Int(slot.index)
        guard index < slotHighWater, slots[index].generation == slot.generation else { return nil }
        return index
    }

    /// The slot's index while its response is awaited (may be answered, or start a stream).
    func awaitedIndex(_ slot: PendingResponse.Slot) -> Int? {
        guard let index = liveIndex(slot), slots[index].lifecycle.resumable(serial: slot.serial),
              awaited[slot.index] != nil else { return nil }
        return index
    }

    /// The slot's index while its stream may write.
    func streamIndex(_ slot: PendingResponse.Slot) -> Int? {
        guard let index = liveIndex(slot), slots[index].lifecycle.streamWritable(serial: slot.serial),
              awaited[slot.index] != nil else { return nil }
        return index
    }

    func beginStream(_ slot: PendingResponse.Slot, status: HTTPStatus, contentType: UnsafeRawBufferPointer,
                     headerLines: UnsafeRawBufferPointer, addedLines: UnsafeRawBufferPointer, contentLength: Int?) -> Bool {
        guard let index = awaitedIndex(slot) else { return false }
        var request = awaited[slot.index]!
        let s = slots + index
        var keepAlive = request.head.keepAlive && !s.pointee.lifecycle.readClosed && !draining
        let framing: BodyFraming
        // No body follows a HEAD's answer, a 204 or a 304: their parts are dropped (the head
        // of a 204 or 304 carries no framing field at all).
        request.bodyless = request.head.isHead || status.code == 204 || status.code == 304
        if let contentLength {
            framing = .contentLength(contentLength)
            request.remaining = contentLength
        } else if request.head.minorVersion >= 1 || request.bodyless {
            framing = .chunked
        } else {
            // HTTP/1.0 has no chunked coding: the body ends with the connection.
            framing = .none
            keepAlive = false
        }
        request.framing = framing
        request.head.keepAlive = keepAlive
        request.status = status.code
        ResponseWriter.writeHead(into: &ConnectionSlot.output(of: s).pointee, status: status, date: date,
                                 contentType: contentType, extraHeaders: headerLines, addedHeaders: addedLines,
                                 framing: framing, keepAlive: keepAlive, minorVersion: request.head.minorVersion)
        awaited[slot.index] = request
        s.pointee.lifecycle.beginStream()
        perform(index)
        return true
    }

    func writeStream(_ slot: PendingResponse.Slot, _ bytes: UnsafeRawBufferPointer) -> PendingResponse.StreamWrite {
        guard let index = streamIndex(slot) else { return .gone }
        let request = awaited[slot.index]!
        let out = ConnectionSlot.output(of: slots + index)
        if !request.bodyless && bytes.count > 0 {
            switch request.framing {
            case .some(.chunked):
                out.pointee.appendHex(bytes.count)
                out.pointee.append("\r\n")
                out.pointee.append(bytes)
                out.pointee.append("\r\n")
            case .some(.contentLength):
                guard bytes.count <= request.remaining else {
                    // More than it said: the framing cannot be kept; the connection closes.
                    slots[index].lifecycle.abort()
                    perform(index)
                    return .gone
                }
                awaited[slot.index]!.remaining -= bytes.count
                out.pointee.append(bytes)
            case .some(.none), nil:
                out.pointee.append(bytes)
            }
        }
        if !request.bodyless { awaited[slot.index]?.streamedBytes += bytes.count }
        perform(index)
        return streamIndex(slot) == nil ? .gone : .written(full: slots[index].lifecycle.streamIsFull)
    }

    func waitForRoom(_ slot: PendingResponse.Slot, _ continuation: CheckedContinuation<Void, any Error>) {
        guard let index = streamIndex(slot) else {
            continuation.resume(throwing: CancellationError())
            return
        }
        guard slots[index].lifecycle.streamIsFull else {
            continuation.resume()
            return
        }
        // One writer waits at a time; one that waits again displaces nothing silently.
        awaited[slot.index]!.roomWaiter?.resume(throwing: CancellationError())
        awaited[slot.index]!.roomWaiter = continuation
        slots[index].lifecycle.waitForRoom()
    }

    func endStream(_ slot: PendingResponse.Slot) -> Bool {
        guard let index = streamIndex(slot), let request = awaited[slot.index] else { return false }
        if case .some(.contentLength) = request.framing, request.remaining > 0, !request.bodyless {
            // Fewer bytes than it said: only the close can tell the client.
            slots[index].lifecycle.abort()
            perform(index)
            return false
        }
        if case .some(.chunked) = request.framing, !request.bodyless {
            ConnectionSlot.output(of: slots + index).pointee.append("0\r\n\r\n")
        }
        awaited.removeValue(forKey: slot.index)
        counters.inflight -= 1
        counters.requests += 1
        if let line = request.logLine {
            accessLog?.finish(line, status: request.status, bodyBytes: request.streamedBytes,
                              durationNanoseconds: monotonicNanoseconds() &- request.startedAt)
        }
        slots[index].lifecycle.endStream(keepAlive: request.head.keepAlive, now: now)
        perform(index)
        return true
    }

    func borrowDescriptor(_ slot: PendingResponse.Slot, _ continuation: CheckedContinuation<Descriptor, any Error>) {
        guard let index = streamIndex(slot), awaited[slot.index]!.lendWaiter == nil, !slots[index].lifecycle.lent else {
            continuation.resume(throwing: CancellationError())
            return
        }
        awaited[slot.index]!.lendWaiter = continuation
        slots[index].lifecycle.lend()
        perform(index)
    }

    func lentProgress(_ slot: PendingResponse.Slot, sent: Int) {
        guard let index = liveIndex(slot), slots[index].lifecycle.lent else { return }
        slots[index].lifecycle.lentProgress(now: now)
        // Bytes the borrower put on the socket count against the stream's Content-Length.
        if awaited[slot.index] != nil {
            awaited[slot.index]!.remaining -= sent
            awaited[slot.index]!.streamedBytes += sent
        }
    }

    func returnDescriptor(_ slot: PendingResponse.Slot) {
        // The slot cannot have been reused: a lent descriptor holds its release.
        guard let index = liveIndex(slot), slots[index].lifecycle.lent else { return }
        slots[index].lifecycle.descriptorReturned()
        perform(index)
    }

    func abortStream(_ slot: PendingResponse.Slot) {
        guard let index = streamIndex(slot) ?? awaitedIndex(slot) else { return }
        slots[index].lifecycle.abort()
        perform(index)
    }

    func receiveBody(_ sink: any RequestBodySink, for slot: PendingResponse.Slot) {
        if isInCall(slot) {
            sinkOfDispatch = sink
            return
        }
        guard awaitedIndex(slot) != nil || streamIndex(slot) != nil else {
            sink.cut()
            return
        }
        awaited[slot.index]!.sink = sink
        perform(Int(slot.index))
    }

    func bodyTaken(_ count: Int, for slot: PendingResponse.Slot) {
        guard let index = liveIndex(slot), slots[index].lifecycle.dispatchSerial == slot.serial else { return }
        slots[index].lifecycle.bodyTaken(count)
        perform(index)
    }

    func register(_ task: Task<Void, Never>, for slot: PendingResponse.Slot) {
        if isInCall(slot) {
            // From inside the handler's call: kept until it returns `.pending`.
            taskOfDispatch?.cancel()
            taskOfDispatch = task
            return
        }
        guard awaitedIndex(slot) != nil else {
            task.cancel()
            return
        }
        awaited[slot.index]!.task?.cancel()
        awaited[slot.index]!.task = task
    }
}
