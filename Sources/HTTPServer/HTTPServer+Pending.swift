import HTTP1
import URing

// Responses given later: a handler returned `.pending`, and its task, on this loop's
// executor, answers through a PendingResponse. The connection's lifecycle holds the rules
// (what waits behind it, the deadline, abandoning on close); this file keeps the little the
// answer's head needs and the task to cancel, and writes the answer when it comes.

/// What the server keeps of a request whose handler answers later.
struct AwaitedRequest {
    var isHead: Bool
    var minorVersion: UInt8
    var keepAlive: Bool
    var task: Task<Void, Never>? = nil
}

extension HTTPServer: PendingResponseHost {
    func resume(_ slot: PendingResponse.Slot, _ write: (inout ResponseWriter) -> Void) -> Bool {
        let index = Int(slot.index)
        if slot.serial != 0 && slot == currentDispatch {
            // Inside the handler's own call (its task has not suspended once): written now,
            // completed by `answer` when the handler returns.
            guard answeredInCall == nil else { return false }
            answeredInCall = self.write(index, currentRequest, write)
            return true
        }
        guard index < slotHighWater, slots[index].generation == slot.generation,
              slots[index].lifecycle.resumable(serial: slot.serial),
              let request = awaited.removeValue(forKey: slot.index) else { return false }
        counters.inflight -= 1
        let keepAlive = self.write(index, request, write)
        slots[index].lifecycle.resumed(keepAlive: keepAlive, now: now)
        counters.requests += 1
        perform(index)
        return true
    }

    /// Writes an answer into the connection's output; returns its keep-alive decision.
    func write(_ index: Int, _ request: AwaitedRequest, _ write: (inout ResponseWriter) -> Void) -> Bool {
        let s = slots + index
        var writer = ResponseWriter(out: ConnectionSlot.output(of: s), date: date, isHead: request.isHead,
                                    minorVersion: request.minorVersion,
                                    keepAlive: request.keepAlive && !s.pointee.lifecycle.readClosed && !draining)
        write(&writer)
        if !writer.hasResponded {
            writer.respond(.internalServerError, body: "handler wrote no response\n")
        }
        return writer.keepAlive
    }

    func register(_ task: Task<Void, Never>, for slot: PendingResponse.Slot) {
        if slot.serial != 0 && slot == currentDispatch {
            // From inside the handler's call: kept until it returns `.pending`.
            taskOfDispatch?.cancel()
            taskOfDispatch = task
            return
        }
        let index = Int(slot.index)
        guard index < slotHighWater, slots[index].generation == slot.generation,
              slots[index].lifecycle.resumable(serial: slot.serial),
              awaited[slot.index] != nil else {
            task.cancel()
            return
        }
        awaited[slot.index]!.task = task
    }
}
