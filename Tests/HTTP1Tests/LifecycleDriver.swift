@testable import HTTP1

/// Plays the event loop and the kernel for one ConnectionLifecycle, without sockets: it
/// performs each action the lifecycle returns, keeps the operations "in flight" until the
/// test completes them, and records what went out on the wire. Invariants a real loop
/// relies on are checked on every step (`violations` collects any that broke).
final class LifecycleDriver {
    let life: UnsafeMutablePointer<ConnectionLifecycle>
    let scratch: UnsafeMutableBufferPointer<HeaderField>
    let date: UnsafeMutableRawPointer
    var now: UInt64 = 0

    // The kernel's side.
    var receiveArmed = false
    var cancelsInFlight = 0
    var receiveCancelled = false
    var delayCancelled = false
    var sendInFlight: [UInt8]? = nil
    /// The stream's producer holds the descriptor (`.lendDescriptor`, not yet given back).
    private(set) var lentOut = false
    /// Times the descriptor was lent.
    private(set) var lends = 0
    private(set) var borrowAsked = false
    var delayArmed = false
    var closeInFlight = false
    private(set) var closed = false
    private(set) var released = 0
    private(set) var shutWrite = false
    private(set) var shutBoth = false
    /// Shutdowns complete as they are asked for (a loop's shutdown(2) on a process
    /// descriptor); false: they wait for `completeShutdowns` (the ring's, on a direct one).
    var shutdownsCompleteAtOnce = true
    private(set) var shutdownsInFlight = 0
    /// Bytes the client received, in order.
    private(set) var wire: [UInt8] = []
    private(set) var actions: [String] = []
    private(set) var violations: [String] = []
    /// The most input the lifecycle held at any step.
    private(set) var maxInput = 0
    private(set) var maxUnsent = 0

    /// Delay (ns) to give each request's response, by path; 0 = answer at once.
    var delayForPath: (String) -> UInt64 = { $0.hasPrefix("/delay") ? 1_000 : 0 }
    /// A handler that answers `keepAlive: false` for this path.
    var closingPath = "/close"
    /// Paths whose handler answers later (`suspended`), when the test calls `resumeAwaited`.
    var awaitPrefix = "/await"
    /// How long an awaited handler may take.
    var awaitTimeout: UInt64 = 5_000
    /// The awaited answer's serial and text, while one is outstanding in the handler.
    private(set) var awaitedHandler: (serial: UInt32, text: String, keepAlive: Bool)? = nil
    /// Handlers the lifecycle abandoned (`.abandonHandler`).
    private(set) var abandoned = 0
    /// Times a waiting stream writer was told it has room (`.streamRoom`).
    private(set) var roomSignals = 0
    /// Paths whose body the handler takes in parts (asked on `.offerBody`).
    var streamsBody: (String) -> Bool = { $0.hasPrefix("/stream") }
    /// The streamed body's bytes, as handed out; held (not taken) unless `takeParts`.
    private(set) var bodyReceived: [UInt8] = []
    var takeParts = true
    private(set) var heldBytes = 0
    private(set) var bodyEnded = 0
    private(set) var bodyCuts = 0
    /// What `.proxied` and `.proxyRefused` said.
    private(set) var proxiedSources: [ClientAddress?] = []
    private(set) var proxyRefusals: [ProxyHeader.Refusal] = []

    init(settings: ConnectionLifecycle.Settings = ConnectionLifecycle.Settings(lingerNanoseconds: 500, sendStallNanoseconds: 2_000),
         limits: HTTPLimits = HTTPLimits(), timeouts: HTTPTimeouts = TestConnection.timeouts,
         scratch shared: UnsafeMutableBufferPointer<HeaderField>? = nil) {
        scratch = shared ?? {
            let t = UnsafeMutableBufferPointer<HeaderField>.allocate(capacity: limits.maxHeaderCount + 1)
            t.initialize(repeating: HeaderField(name: .empty, value: .empty))
            return t
        }()
        ownsScratch = shared == nil
        date = .allocate(byteCount: HTTPDate.length, alignment: 8)
        HTTPDate.format(epochSeconds: 0, into: date)
        life = .allocate(capacity: 1)
        life.initialize(to: ConnectionLifecycle(settings: settings, limits: limits, timeouts: timeouts,
                                                scratch: scratch, date: date))
        life.pointee.start(now: 0)
        run()
    }

    private let ownsScratch: Bool

    deinit {
        life.pointee.freeMemory()
        life.deinitialize(count: 1)
        life.deallocate()
        date.deallocate()
        if ownsScratch { scratch.deallocate() }
    }

    var output: UnsafeMutablePointer<RawBuffer> {
        (UnsafeMutableRawPointer(life) + MemoryLayout<ConnectionLifecycle>.offset(of: \.output)!)
            .assumingMemoryBound(to: RawBuffer.self)
    }

    func note(_ s: String) { actions.append(s) }

    func check(_ ok: Bool, _ what: @autoclosure () -> String) {
        if !ok { violations.append(what()) }
    }

    /// Performs actions until the lifecycle has nothing more to do.
    func run() {
        var steps = 0
        while true {
            steps += 1
            if steps > 100_000 { violations.append("next() never returned .none"); return }
            let action = life.pointee.next(now: now)
            maxInput = max(maxInput, life.pointee.input.count)
            maxUnsent = max(maxUnsent, life.pointee.unsentBytes)
            switch action {
            case .none:
                return
            case .askPeerName:
                note("askPeerName")
                check(!receiveArmed && !closed && !closeInFlight, "peer name asked after the start")
                life.pointee.peerNameCompleted(again: false)
            case .armReceive:
                note("armReceive")
                check(!receiveArmed, "a second receive armed")
                check(!closed && !closeInFlight, "receive armed after close")
                receiveArmed = true
            case .cancelReceive:
                note("cancelReceive")
                check(receiveArmed, "cancel of a receive that is not armed")
                cancelsInFlight += 1
                receiveCancelled = true
            case .send(let p, let count):
                note("send \(count)")
                check(sendInFlight == nil, "two sends in flight")
                check(!lentOut, "a send while the descriptor is lent")
                check(!closed && !closeInFlight && !shutWrite, "send after close or shutdown")
                check(count > 0, "empty send")
                sendInFlight = Array(UnsafeRawBufferPointer(start: p, count: count))
            case .proxied(let source):
                note("proxied \(source.map { $0.description } ?? "-")")
                check(proxyRefusals.isEmpty && proxiedSources.isEmpty && !actions.contains("dispatch"), "proxied twice or late")
                proxiedSources.append(source)
            case .proxyRefused(let why):
                note("proxyRefused \(why)")
                check(!actions.contains("dispatch"), "refused after a dispatch")
                proxyRefusals.append(why)
            case .dispatch(let head, let body):
                note("dispatch")
                answer(head, body)
            case .armDelay:
                note("armDelay")
                check(!delayArmed, "two delays armed")
                delayArmed = true
            case .cancelDelay:
                note("cancelDelay")
                check(delayArmed, "cancel of a delay that is not armed")
                cancelsInFlight += 1
                delayCancelled = true
            case .shutdownWrite:
                note("shutdownWrite")
                check(sendInFlight == nil && life.pointee.unsentBytes == 0, "shutdown with output unsent")
                shutWrite = true
                shutdownAsked()
            case .shutdownBoth:
                note("shutdownBoth")
                shutBoth = true
                shutdownAsked()
            case .close:
                note("close")
                check(!closeInFlight && !closed, "closed twice")
                check(shutdownsInFlight == 0, "closed with a shutdown in flight (its slot could be reused under it)")
                check(!lentOut, "closed while the descriptor is lent (its slot could be reused under the borrower)")
                closeInFlight = true
            case .offerBody(let head):
                note("offerBody")
                let path = String(decoding: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(start: life.pointee.input.base, count: life.pointee.input.count)[head.path.lowerBound..<head.path.upperBound]), as: UTF8.self)
                life.pointee.answerOffer(stream: streamsBody(path))
            case .bodyPart(let p, let count):
                note("bodyPart \(count)")
                check(life.pointee.bodyStreaming, "a body part with no streamed body")
                bodyReceived += UnsafeRawBufferPointer(start: p, count: count)
                if takeParts { life.pointee.bodyTaken(count) } else { heldBytes += count }
            case .bodyEnd:
                note("bodyEnd")
                bodyEnded += 1
            case .bodyCut:
                note("bodyCut")
                bodyCuts += 1
            case .lendDescriptor:
                note("lendDescriptor")
                check(!lentOut, "lent twice")
                check(sendInFlight == nil && life.pointee.unsentBytes == 0, "lent with bytes before it unsent")
                check(!closed && !closeInFlight, "lent after close")
                lentOut = true
                borrowAsked = false
                lends += 1
            case .streamRoom:
                note("streamRoom")
                check(life.pointee.streaming, "room for a stream that is not streaming")
                roomSignals += 1
            case .abandonHandler:
                note("abandonHandler")
                check(awaitedHandler != nil, "abandoned a handler that was not awaited")
                abandoned += 1
                awaitedHandler = nil
            case .release:
                note("release")
                check(awaitedHandler == nil, "released with a handler still awaited")
                check(!lentOut, "released with the descriptor lent")
                check(!receiveArmed && sendInFlight == nil && !delayArmed && cancelsInFlight == 0 && shutdownsInFlight == 0 && closed,
                      "released with operations in flight")
                released += 1
                return
            }
        }
    }

    func answer(_ head: RequestHead, _ body: ByteRange) {
        let request = life.pointee.request(head, body: body)
        let path = request.pathString
        var writer = ResponseWriter(out: output, date: date, isHead: head.method == .head, minorVersion: head.minorVersion,
                                    keepAlive: head.keepAlive && !life.pointee.readClosed)
        if path == closingPath { writer.keepAlive = false }
        // The body says which request this answers: its path, its X-Id field and its body.
        var text = path
        if let id = request.header("x-id") { text += " id=" + String(decoding: id, as: UTF8.self) }
        if request.body.count > 0 { text += " body=" + String(decoding: request.body, as: UTF8.self) }
        text += "\n"
        if path.hasPrefix(awaitPrefix) || life.pointee.bodyStreaming {
            check(awaitedHandler == nil, "two handlers awaited on one connection")
            awaitedHandler = (life.pointee.dispatchSerial, text, writer.keepAlive)
            life.pointee.suspended(timeoutNanoseconds: awaitTimeout, now: now)
            return
        }
        writer.respond(.ok, text: text)
        life.pointee.handled(keepAlive: writer.keepAlive, delayNanoseconds: delayForPath(path), now: now)
    }

    // MARK: - Events the test causes

    func deliver(_ text: String, final: Bool = false) { deliver(Array(text.utf8), final: final) }

    func deliver(_ bytes: [UInt8], final: Bool = false) {
        check(receiveArmed, "bytes delivered with no receive armed")
        bytes.withUnsafeBytes { life.pointee.received(.bytes($0), final: final) }
        if final { receiveArmed = false }
        run()
    }

    func peerCloses() {
        check(receiveArmed, "end of input with no receive armed")
        receiveArmed = false
        life.pointee.received(.endOfInput, final: true)
        run()
    }

    func receiveFails(_ kind: ConnectionLifecycle.Received = .failed) {
        receiveArmed = false
        life.pointee.received(kind, final: true)
        run()
    }

    func shutdownAsked() {
        if shutdownsCompleteAtOnce {
            life.pointee.shutdownCompleted()
        } else {
            shutdownsInFlight += 1
        }
    }

    /// The ring's shutdowns in flight complete.
    func completeShutdowns() {
        guard shutdownsInFlight > 0 else { return }
        while shutdownsInFlight > 0 {
            shutdownsInFlight -= 1
            life.pointee.shutdownCompleted()
        }
        run()
    }

    /// The kernel finishes the cancels in flight (the receive ends, the delay is removed).
    func completeCancels() {
        guard cancelsInFlight > 0 else { return }
        if receiveCancelled && receiveArmed {
            receiveArmed = false
            life.pointee.received(.cancelled, final: true)
        }
        if delayCancelled && delayArmed {
            delayArmed = false
            life.pointee.delayCompleted(now: now)
        }
        receiveCancelled = false
        delayCancelled = false
        while cancelsInFlight > 0 {
            cancelsInFlight -= 1
            life.pointee.cancelCompleted()
        }
        run()
    }

    /// The send in flight completes with `limit` bytes at most (a short send), or fails.
    func completeSend(limit: Int = .max, fail: Bool = false) {
        guard let bytes = sendInFlight else { return }
        sendInFlight = nil
        if fail || shutBoth {
            life.pointee.sendCompleted(-32)
        } else {
            let n = min(limit, bytes.count)
            wire += bytes[0..<n]
            life.pointee.sendCompleted(n)
        }
        run()
    }

    func fireDelay() {
        guard delayArmed else { return }
        delayArmed = false
        life.pointee.delayCompleted(now: now)
        run()
    }

    /// The awaited handler answers (as its task would, on the loop). Returns whether the
    /// lifecycle took the answer. `serial` defaults to the awaited request's.
    @discardableResult
    func resumeAwaited(serial: UInt32? = nil) -> Bool {
        guard let handler = awaitedHandler else { return false }
        guard life.pointee.resumable(serial: serial ?? handler.serial) else { return false }
        awaitedHandler = nil
        var writer = ResponseWriter(out: output, date: date, isHead: false, minorVersion: 1,
                                    keepAlive: handler.keepAlive && !life.pointee.readClosed)
        writer.respond(.ok, text: handler.text)
        life.pointee.resumed(keepAlive: writer.keepAlive, now: now)
        run()
        return true
    }

    /// The handler takes the body parts it was holding.
    func takeHeldParts() {
        life.pointee.bodyTaken(heldBytes)
        heldBytes = 0
        run()
    }

    /// The awaited handler starts a stream: its head, as the loop writes it.
    func beginStream() {
        guard let handler = awaitedHandler, life.pointee.resumable(serial: handler.serial) else { return }
        output.pointee.append("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        life.pointee.beginStream()
        run()
    }

    /// The stream writes a part of `count` bytes; returns whether its writer must wait.
    @discardableResult
    func streamPart(_ count: Int) -> Bool {
        guard let handler = awaitedHandler, life.pointee.streamWritable(serial: handler.serial), !life.pointee.lent else { return false }
        output.pointee.appendHex(count)
        output.pointee.append("\r\n")
        for _ in 0..<count { output.pointee.append(byte: UInt8(ascii: "s")) }
        output.pointee.append("\r\n")
        run()
        let full = life.pointee.streamIsFull
        if full { life.pointee.waitForRoom() }
        return full
    }

    /// The stream's producer asks to borrow the descriptor.
    func borrow() {
        guard let handler = awaitedHandler, life.pointee.streamWritable(serial: handler.serial),
              !life.pointee.lent, !lentOut, !borrowAsked else { return }
        borrowAsked = true
        life.pointee.lend()
        run()
    }

    /// The borrower moved bytes.
    func lentProgress() {
        life.pointee.lentProgress(now: now)
    }

    /// The borrower gives the descriptor back.
    func giveBack() {
        guard lentOut else { return }
        lentOut = false
        life.pointee.descriptorReturned()
        run()
    }

    func endStream() {
        guard let handler = awaitedHandler, life.pointee.streamWritable(serial: handler.serial), !life.pointee.lent else { return }
        awaitedHandler = nil
        output.pointee.append("0\r\n\r\n")
        life.pointee.endStream(keepAlive: handler.keepAlive, now: now)
        run()
    }

    func completeClose() {
        guard closeInFlight else { return }
        closeInFlight = false
        closed = true
        life.pointee.closeCompleted()
        run()
    }

    func closeIfIdle(now: UInt64, grace: UInt64, newGrace: UInt64 = 1_000) -> Bool {
        life.pointee.closeIfIdle(now: now, grace: grace, newGrace: newGrace)
    }

    func tick(at time: UInt64) {
        now = time
        life.pointee.tick(now: now)
        run()
    }

    /// Sends, cancels and the close complete until nothing is in flight but the receive.
    func settle() {
        for _ in 0..<10_000 {
            if sendInFlight != nil { completeSend(); continue }
            if cancelsInFlight > 0 { completeCancels(); continue }
            if shutdownsInFlight > 0 { completeShutdowns(); continue }
            if closeInFlight { completeClose(); continue }
            return
        }
    }

    var wireText: String { String(decoding: wire, as: UTF8.self) }

    /// The responses on the wire, in order: the body (without its newline) of a 200, the
    /// status code of anything else.
    var answered: [String] {
        var result: [String] = []
        var i = 0
        let w = wire
        while i + 4 <= w.count {
            var end = i
            while end + 4 <= w.count && !(w[end] == 13 && w[end + 1] == 10 && w[end + 2] == 13 && w[end + 3] == 10) { end += 1 }
            guard end + 4 <= w.count else { break }
            let head = String(decoding: w[i..<end], as: UTF8.self)
            var length = 0
            for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                length = Int(line.dropFirst("content-length:".count).filter { $0 != " " }) ?? 0
            }
            let status = head.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
            let bodyStart = end + 4
            guard bodyStart + length <= w.count else { break }
            var body = String(decoding: w[bodyStart..<(bodyStart + length)], as: UTF8.self)
            if body.hasSuffix("\n") { body.removeLast() }
            result.append(status == "200" ? body : status)
            i = bodyStart + length
        }
        return result
    }
}
