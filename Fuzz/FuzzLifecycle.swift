import Glibc

// libFuzzer target: ConnectionLifecycle driven by the input (built by `make fuzz` with the
// HTTP1 sources). The first bytes of the input are a script of events (a read of some of
// the client's bytes, a send completing in part, a timer, a delay firing, cancels and the
// close and shutdowns completing, the peer closing); the rest is what the client sends. Invariants:
// - responses leave in request order (each response names its request), and nothing is
//   sent after a close or a shutdown of our side;
// - operations are well formed: one receive and one send at most, a cancel only of what
//   is armed, no close while a shutdown is in flight, the slot released only with nothing
//   in flight, and exactly once;
// - a stream's borrowed descriptor (step kinds 10 and 11: borrow, and give back after
//   putting a chunk on the wire itself) is lent only with nothing unsent, and while it is
//   out nothing is sent, closed or released;
// - the connection's buffers stay bounded;
// - the lifecycle never loops without returning .none;
// - a payload that begins as a PROXY header would ('P' or CR) runs with PROXY headers
//   expected: nothing is dispatched before `.proxied`, and nothing at all after
//   `.proxyRefused`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLifecycle(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let scriptLength = min(size - 1, Int(data[0]) + 1)
    let script = UnsafeBufferPointer(start: data + 1, count: scriptLength)
    let payload = UnsafeRawBufferPointer(start: data + 1 + scriptLength, count: size - 1 - scriptLength)
    var run = LifecycleRun(proxy: payload.first == UInt8(ascii: "P") || payload.first == 0x0D)
    defer { run.finish() }
    var offset = 0
    for op in script {
        run.time += UInt64(op >> 4) * 50
        switch op & 0x0F {
        case 0, 1, 2:
            guard run.receiveArmed, offset < payload.count else { continue }
            let n = min(payload.count - offset, 1 + Int(op >> 3) * 37)
            run.deliver(UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + n)]), final: op & 0x80 != 0)
            offset += n
        case 3, 4: run.completeSend(limit: 1 + Int(op >> 4) * 23)
        case 5: run.fireDelay()
        case 6: run.completeCancels()
        case 7: run.completeClose()
        case 8: run.tick()
        case 9: if run.receiveArmed { run.peerCloses() }
        case 10: if run.receiveArmed { run.receiveFails() }
        case 11: run.drainIdle()
        case 12: run.completeShutdowns()
        case 13: run.resumeAwaited()
        case 14: run.streamStep(Int(op >> 4))
        case 15: if run.held > 0 { run.takeBody() } else { run.completeSend(limit: .max) }
        default: run.completeSend(limit: .max)
        }
        if run.released > 0 { break }
    }
    return 0
}

struct LifecycleRun {
    static let plainSettings = ConnectionLifecycle.Settings(maxUnsentOutput: 2048, readAheadBytes: 1024,
                                                       lingerNanoseconds: 2_000, sendStallNanoseconds: 3_000,
                                                       idleReleaseNanoseconds: 500, offersBodies: true, asksPeerName: true)
    static let limits = HTTPLimits(maxHeaderBytes: 1024, maxTargetBytes: 256, maxHeaderCount: 16, maxBodyBytes: 2048)
    static let timeouts = HTTPTimeouts(headerNanoseconds: 4_000, keepAliveNanoseconds: 3_000, bodyIdleNanoseconds: 2_500)

    let life: UnsafeMutablePointer<ConnectionLifecycle>
    let scratch: UnsafeMutableBufferPointer<HeaderField>
    let date: UnsafeMutableRawPointer
    var time: UInt64 = 0
    var receiveArmed = false, receiveCancelled = false
    var peerAsks = 0
    var delayArmed = false, delayCancelled = false
    var cancels = 0
    /// The send in flight: its bytes are read only when it completes, as the kernel may
    /// read them as late as that, so a buffer freed or moved under a send is a use after
    /// free that AddressSanitizer reports (or garbled output the wire check catches).
    var sendInFlight: (bytes: UnsafeRawPointer, count: Int)? = nil
    var closeInFlight = false, closed = false, shutWrite = false, shutBoth = false
    /// Shutdowns complete only when the script says (the ring's, on a direct descriptor).
    var shutdowns = 0
    var released = 0
    var dispatched = 0
    /// An async handler's answer, outstanding (a path starting with "/a" answers later).
    var awaited: (serial: UInt32, text: String, keepAlive: Bool)? = nil
    /// The awaited answer is streamed (its parts are `s` bytes, its end names the request).
    var waitingForRoom = false
    /// The stream's producer asked for the descriptor, or holds it.
    var borrowAsked = false, lentOut = false
    /// Streamed request-body bytes handed out and not yet taken.
    var held = 0
    var wire: [UInt8] = []

    let settings: ConnectionLifecycle.Settings
    /// With PROXY headers expected: `.proxied` came, or `.proxyRefused`.
    var proxied = false, proxyRefused = false

    init(proxy: Bool) {
        var settings = Self.plainSettings
        settings.expectsProxyHeader = proxy
        settings.maxProxyHeaderBytes = 200
        self.settings = settings
        scratch = .allocate(capacity: Self.limits.maxHeaderCount + 1)
        scratch.initialize(repeating: HeaderField(name: .empty, value: .empty))
        date = .allocate(byteCount: HTTPDate.length, alignment: 8)
        HTTPDate.format(epochSeconds: 0, into: date)
        life = .allocate(capacity: 1)
        life.initialize(to: ConnectionLifecycle(settings: settings, limits: Self.limits, timeouts: Self.timeouts,
                                                scratch: scratch, date: date))
        life.pointee.start(now: 0)
        perform()
    }

    mutating func finish() {
        checkOrder()
        life.pointee.freeMemory()
        life.deinitialize(count: 1)
        life.deallocate()
        scratch.deallocate()
        date.deallocate()
    }

    var output: UnsafeMutablePointer<RawBuffer> {
        (UnsafeMutableRawPointer(life) + MemoryLayout<ConnectionLifecycle>.offset(of: \.output)!)
            .assumingMemoryBound(to: RawBuffer.self)
    }

    mutating func perform() {
        for _ in 0..<100_000 {
            let action = life.pointee.next(now: time)
            // Input: the reader's limits while it can answer, read-ahead plus the reads that were
            // already on their way when reading paused (a few 37-byte multiples here).
            check(life.pointee.input.count <= 8 * 1024, "input grew to \(life.pointee.input.count)")
            check(life.pointee.unsentBytes <= settings.maxUnsentOutput + 4 * 1024, "output grew to \(life.pointee.unsentBytes)")
            switch action {
            case .none:
                return
            case .askPeerName:
                // Completed at once, as a socket's uring_cmd is; asked again the first time.
                check(!closed && !closeInFlight && !receiveArmed, "peer name asked after the start")
                peerAsks += 1
                life.pointee.peerNameCompleted(again: peerAsks == 1)
            case .armReceive:
                check(!receiveArmed && !closed && !closeInFlight, "receive armed twice or after close")
                receiveArmed = true
            case .cancelReceive:
                check(receiveArmed && !receiveCancelled, "cancel of a receive not armed")
                receiveCancelled = true
                cancels += 1
            case .send(let p, let count):
                check(sendInFlight == nil && !closed && !closeInFlight && !shutWrite && count > 0, "bad send")
                check(!lentOut, "a send while the descriptor is lent")
                sendInFlight = (UnsafeRawPointer(p), count)
            case .proxied:
                check(settings.expectsProxyHeader && !proxied && !proxyRefused && dispatched == 0, "proxied twice, unasked, or late")
                proxied = true
            case .proxyRefused:
                check(settings.expectsProxyHeader && !proxied && !proxyRefused && dispatched == 0, "refused twice, unasked, or late")
                proxyRefused = true
            case .dispatch(let head, let body):
                check(!settings.expectsProxyHeader || (proxied && !proxyRefused), "a request dispatched without its PROXY header")
                let request = life.pointee.request(head, body: body)
                check(body.upperBound <= request.bytes.count, "body outside the input")
                var writer = ResponseWriter(out: output, date: date, isHead: false, minorVersion: head.minorVersion,
                                            keepAlive: head.keepAlive && !life.pointee.readClosed)
                if (request.path.count > 1 && request.path[1] == UInt8(ascii: "a")) || life.pointee.bodyStreaming {
                    check(awaited == nil, "two handlers awaited")
                    awaited = (life.pointee.dispatchSerial, "r\(dispatched)\n", writer.keepAlive)
                    dispatched += 1
                    life.pointee.suspended(timeoutNanoseconds: 900, now: time)
                    continue
                }
                writer.respond(.ok, text: "r\(dispatched)\n")
                let delay: UInt64 = request.path.first == UInt8(ascii: "d") || request.query.count > 0 ? 700 : 0
                dispatched += 1
                life.pointee.handled(keepAlive: writer.keepAlive, delayNanoseconds: delay, now: time)
            case .armDelay:
                check(!delayArmed, "two delays")
                delayArmed = true
            case .cancelDelay:
                check(delayArmed && !delayCancelled, "cancel of a delay not armed")
                delayCancelled = true
                cancels += 1
            case .shutdownWrite:
                check(sendInFlight == nil && life.pointee.unsentBytes == 0, "shutdown with output unsent")
                shutWrite = true
                shutdowns += 1
            case .shutdownBoth:
                shutBoth = true
                shutdowns += 1
            case .close:
                check(!closeInFlight && !closed, "closed twice")
                check(shutdowns == 0, "closed with a shutdown in flight")
                check(!lentOut, "closed while the descriptor is lent")
                closeInFlight = true
            case .offerBody(let head):
                // A path starting "/s" takes its body in parts.
                let input = UnsafeRawBufferPointer(start: life.pointee.input.base, count: life.pointee.input.count)
                life.pointee.answerOffer(stream: head.path.count > 1 && input[head.path.lowerBound + 1] == UInt8(ascii: "s"))
            case .bodyPart(_, let count):
                check(life.pointee.bodyStreaming, "a body part with no streamed body")
                held += count
                if held > 3000 { life.pointee.bodyTaken(held); held = 0 }
            case .bodyEnd, .bodyCut:
                held = 0
            case .lendDescriptor:
                check(borrowAsked && !lentOut, "a descriptor lent that nobody asked for")
                check(sendInFlight == nil && life.pointee.unsentBytes == 0, "lent with bytes before it unsent")
                check(!closed && !closeInFlight, "lent after the close")
                lentOut = true
            case .streamRoom:
                check(life.pointee.streaming && waitingForRoom, "room for a stream that did not wait")
                waitingForRoom = false
            case .abandonHandler:
                waitingForRoom = false
                if !lentOut { borrowAsked = false }  // a waiting borrower is told nothing more
                check(awaited != nil, "abandoned a handler not awaited")
                awaited = nil
            case .release:
                check(awaited == nil, "released with a handler awaited")
                check(!lentOut, "released while the descriptor is lent")
                check(!receiveArmed && sendInFlight == nil && !delayArmed && cancels == 0 && shutdowns == 0 && closed && released == 0,
                      "released with operations in flight, or twice")
                released += 1
                return
            }
        }
        check(false, "next() never returned .none")
    }

    /// One step of a streamed answer: its head, a part, or its end (which carries the
    /// request's name, so the order check still sees it).
    mutating func streamStep(_ kind: Int) {
        if kind == 11 {
            // The borrower gives the descriptor back, after putting a part on the socket
            // itself (as a splice does), even when its connection closed meanwhile.
            guard lentOut else { return }
            if awaited != nil && life.pointee.state == .open { wire += Array("5\r\nsssss\r\n".utf8) }
            lentOut = false
            borrowAsked = false
            life.pointee.descriptorReturned()
            perform()
            return
        }
        guard let handler = awaited else { return }
        if lentOut || (borrowAsked && life.pointee.streamWritable(serial: handler.serial)) {
            return  // the producer waits for, or holds, the descriptor: it writes nothing else
        }
        if life.pointee.resumable(serial: handler.serial) {
            output.pointee.append("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            life.pointee.beginStream()
        } else if life.pointee.streamWritable(serial: handler.serial) {
            if kind == 10 {
                borrowAsked = true
                life.pointee.lend()
            } else if kind < 12 {
                guard !waitingForRoom else { return }
                let n = 1 + kind * 100
                output.pointee.appendHex(n)
                output.pointee.append("\r\n")
                for _ in 0..<n { output.pointee.append(byte: UInt8(ascii: "s")) }
                output.pointee.append("\r\n")
                if life.pointee.streamIsFull {
                    life.pointee.waitForRoom()
                    waitingForRoom = true
                }
            } else {
                awaited = nil
                waitingForRoom = false
                // A last part that names the request as a plain answer's body does ("rN\n"
                // after a blank line), so that the order check finds it; its framing is not
                // what is checked here.
                output.pointee.append("\r\n\r\n")
                var text = handler.text
                text.withUTF8 { output.pointee.append(UnsafeRawBufferPointer($0)) }
                output.pointee.append("0\r\n\r\n")
                life.pointee.endStream(keepAlive: handler.keepAlive, now: time)
            }
        } else {
            return
        }
        perform()
    }

    mutating func takeBody() {
        life.pointee.bodyTaken(held)
        held = 0
        perform()
    }

    mutating func resumeAwaited() {
        guard let handler = awaited, life.pointee.resumable(serial: handler.serial) else { return }
        awaited = nil
        var writer = ResponseWriter(out: output, date: date, isHead: false, minorVersion: 1,
                                    keepAlive: handler.keepAlive && !life.pointee.readClosed)
        writer.respond(.ok, text: handler.text)
        life.pointee.resumed(keepAlive: writer.keepAlive, now: time)
        perform()
    }

    mutating func deliver(_ bytes: UnsafeRawBufferPointer, final: Bool) {
        life.pointee.received(.bytes(bytes), final: final)
        if final { receiveArmed = false; receiveCancelled = false }
        perform()
    }

    mutating func peerCloses() {
        receiveArmed = false
        receiveCancelled = false
        life.pointee.received(.endOfInput, final: true)
        perform()
    }

    mutating func receiveFails() {
        receiveArmed = false
        receiveCancelled = false
        life.pointee.received(.failed, final: true)
        perform()
    }

    mutating func completeSend(limit: Int) {
        guard let send = sendInFlight else { return }
        sendInFlight = nil
        if shutBoth {
            life.pointee.sendCompleted(-32)
        } else {
            let n = min(limit, send.count)
            wire += UnsafeRawBufferPointer(start: send.bytes, count: n)
            life.pointee.sendCompleted(n)
        }
        perform()
    }

    mutating func fireDelay() {
        guard delayArmed else { return }
        delayArmed = false
        delayCancelled = false
        life.pointee.delayCompleted(now: time)
        perform()
    }

    mutating func completeCancels() {
        guard cancels > 0 else { return }
        if receiveCancelled && receiveArmed {
            receiveArmed = false
            life.pointee.received(.cancelled, final: true)
        }
        if delayCancelled && delayArmed {
            delayArmed = false
            life.pointee.delayCompleted(now: time)
        }
        receiveCancelled = false
        delayCancelled = false
        while cancels > 0 {
            cancels -= 1
            life.pointee.cancelCompleted()
        }
        perform()
    }

    mutating func completeShutdowns() {
        guard shutdowns > 0 else { return }
        while shutdowns > 0 {
            shutdowns -= 1
            life.pointee.shutdownCompleted()
        }
        perform()
    }

    mutating func completeClose() {
        guard closeInFlight else { return }
        closeInFlight = false
        closed = true
        life.pointee.closeCompleted()
        perform()
    }

    mutating func tick() {
        life.pointee.tick(now: time)
        perform()
    }

    mutating func drainIdle() {
        _ = life.pointee.closeIfIdle(now: time, grace: 100, newGrace: 1_000)
        perform()
    }

    /// The responses on the wire name requests 0, 1, 2... in order (interim and error
    /// responses carry no such name and are skipped).
    func checkOrder() {
        var expected = 0
        var i = 0
        let w = wire
        while i + 5 < w.count {
            if w[i] == 13 && w[i + 1] == 10 && w[i + 2] == 13 && w[i + 3] == 10 && w[i + 4] == UInt8(ascii: "r") {
                var j = i + 5
                var n = 0
                var digits = 0
                while j < w.count, w[j] >= 48, w[j] <= 57 { n = n * 10 + Int(w[j] - 48); j += 1; digits += 1 }
                if digits > 0 && j < w.count && w[j] == 10 {
                    check(n == expected, "response for request \(n) where \(expected) was due")
                    expected += 1
                }
            }
            i += 1
        }
        check(expected <= dispatched, "more responses than requests")
    }
}

/// A broken invariant: say which, then abort (libFuzzer saves the input).
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        fputs("invariant broken: \(message())\n", stderr)
        abort()
    }
}
