import Glibc

// The whole life of one connection as a pure state machine: reading, dispatching, a
// delayed response, sending, back-pressure, lingering and closing. The event loop reports
// what happened (bytes, a completion, the time) and performs the actions `next` returns,
// one at a time, until `.none`. No sockets, no clock, no allocation per request, so every
// order of events is tested directly and fuzzed.
//
//     open ──last response sent──▶ lingering ──peer closed / linger over──▶ closing ──▶ released
//       └──── peer gone, error, timeout, send stalled ─────────────────────▶ closing
//
// Rules that used to be spread as flags across the loop, each kept here in one place:
// - Responses leave in request order. While a response is delayed or awaited, nothing
//   after it is parsed, and a rejection can only be written after the responses before it.
// - An awaited response (an async handler's) has a deadline: when it passes, the client
//   gets 504 and the handler is abandoned. A connection that closes (or whose client ends
//   its side) while its handler is pending abandons it too; the loop cancels the
//   handler's task on `.abandonHandler`.
// - A streamed response (an awaited one whose body comes in parts) holds everything after
//   it too. Its writer waits while more than `maxUnsentOutput` is unsent, and is told
//   (`.streamRoom`) once less than half of that is: the body's producer never runs ahead
//   of the client by more than that bound.
// - A streamed response may borrow the connection's descriptor (a file sent with splice,
//   straight from the page cache to the socket): it is lent once every byte written before
//   it has been sent, nothing else is sent while it is out, the send-stall timeout applies
//   to the borrower's reported progress, and a closing connection shuts the socket down
//   (which fails the borrower's operation) but is not closed until the descriptor is back:
//   a direct descriptor's slot must not be reused under an operation still queued on it.
// - Read back-pressure (as SwiftNIO's pipelining handler): while the connection cannot
//   answer (a delayed response, or more than `maxUnsentOutput` bytes not yet sent) and
//   it holds `readAheadBytes` of unanswered input, its multishot receive is cancelled,
//   and armed again once it can go on. Input and output per connection stay bounded
//   whatever the client does.
// - Operations are counted: the connection is released (its slot reusable, its buffers
//   free) only once every operation submitted for it has completed (monoio's lifecycle
//   idea), so the kernel never writes into a buffer of a newer connection.
// - A request's header fields are copied into the connection's own store the moment its
//   head parses (the parser's table is shared by the whole loop).

public struct ConnectionLifecycle {
    public struct Settings: Sendable, Equatable {
        /// Unsent response bytes above which no further request is answered (and so,
        /// with `readAheadBytes` of input waiting, reading pauses). Default 256 KiB.
        public var maxUnsentOutput: Int = 256 * 1024
        /// Unanswered input a connection that cannot answer may hold before reading
        /// pauses. Default 64 KiB.
        public var readAheadBytes: Int = 64 * 1024
        /// How long a connection may read after its last response before it is closed.
        public var lingerNanoseconds: UInt64 = 2_000_000_000
        /// A send that makes no progress this long closes the connection.
        public var sendStallNanoseconds: UInt64 = 10_000_000_000
        /// The most one send submits. io_uring tells of progress only when a send completes,
        /// so a large response goes in pieces: a client that reads slowly but steadily makes
        /// progress with each, and only one that stops reading meets `sendStallNanoseconds`.
        /// Default 64 KiB.
        public var maxSendBytes: Int = 64 * 1024
        /// A keep-alive connection idle between requests this long gives its buffers back,
        /// as nginx frees an idle connection's: it then costs its slot alone, and the next
        /// request allocates them again. Never on a busy connection, so the hot path stays
        /// free of allocations. 0 keeps them. Default 1 s.
        public var idleReleaseNanoseconds: UInt64 = 1_000_000_000
        /// Offer each head with a body to the loop before reading the body (`.offerBody`), for
        /// a handler that may take bodies in parts. Default off.
        public var offersBodies = false
        /// Each connection starts by asking for its client's address (`.askPeerName`).
        public var asksPeerName = false
        /// Each connection starts with a PROXY protocol header (a load balancer's), which
        /// names the client (`.proxied`); without a valid one it is closed (`.proxyRefused`).
        public var expectsProxyHeader = false
        /// The longest PROXY header (version 2 with its TLVs) taken. Default 4 KiB.
        public var maxProxyHeaderBytes = ProxyHeader.defaultMaxLength

        public init(maxUnsentOutput: Int = 256 * 1024, readAheadBytes: Int = 64 * 1024,
                    lingerNanoseconds: UInt64 = 2_000_000_000, sendStallNanoseconds: UInt64 = 10_000_000_000,
                    maxSendBytes: Int = 64 * 1024, idleReleaseNanoseconds: UInt64 = 1_000_000_000,
                    offersBodies: Bool = false, asksPeerName: Bool = false) {
            self.offersBodies = offersBodies
            self.asksPeerName = asksPeerName
            self.idleReleaseNanoseconds = idleReleaseNanoseconds
            self.maxUnsentOutput = maxUnsentOutput
            self.readAheadBytes = readAheadBytes
            self.lingerNanoseconds = lingerNanoseconds
            self.sendStallNanoseconds = sendStallNanoseconds
            self.maxSendBytes = max(1, maxSendBytes)
        }
    }

    public enum State: UInt8, Sendable {
        case open
        /// The last response is sent and our side shut down; reading until the peer closes.
        case lingering
        /// Being closed: waiting for every operation in flight.
        case closing
        /// Every operation has completed: the slot may be reused.
        case released
    }

    /// What the loop must do next. Each action is performed once, in the order returned.
    public enum Action: Equatable {
        case none
        /// Ask the kernel for the client's address (getsockopt SO_PEERNAME through the ring;
        /// its completion: `peerNameCompleted`). First, before the connection is read.
        case askPeerName
        /// Submit a multishot receive (counted until its completion without F_MORE).
        case armReceive
        /// Cancel the multishot receive (its own completion: `cancelCompleted`).
        case cancelReceive
        /// Submit a send of these bytes (owned by the lifecycle until `sendCompleted`).
        case send(UnsafeRawPointer, count: Int)
        /// Call the handler for this request (`request(_:body:)`), then `handled`.
        case dispatch(RequestHead, body: ByteRange)
        /// Submit a timer; its completion is `delayCompleted`.
        case armDelay(nanoseconds: UInt64)
        /// Remove the delay's timer (its own completion: `cancelCompleted`).
        case cancelDelay
        /// shutdown(SHUT_WR): the last response is out; lingering starts. Its completion is
        /// `shutdownCompleted` (at once, for a loop that shuts down synchronously).
        case shutdownWrite
        /// shutdown(SHUT_RDWR): ends a send that would wait forever for a client that does
        /// not read (neither a cancel nor a close of the descriptor ends it). Completion as
        /// for `shutdownWrite`.
        case shutdownBoth
        /// Submit a close of the descriptor (its completion: `closeCompleted`).
        case close
        /// Nothing is in flight any more: free the slot.
        case release
        /// The awaited handler will not be answered (its deadline passed, or the connection
        /// is closing): cancel its task. Not an operation on the ring.
        case abandonHandler
        /// A streamed response's writer that waited for room may write again.
        case streamRoom
        /// Lend the descriptor to the stream's producer (`lend`): everything before it is
        /// sent. It is counted in flight until `descriptorReturned`.
        case lendDescriptor
        /// A head whose body is not read yet: ask the handler whether it takes the body in
        /// parts, and answer with `answerOffer`.
        case offerBody(RequestHead)
        /// The next part of a streamed request body (valid until `next` is called again);
        /// once the handler has taken it, `bodyTaken`.
        case bodyPart(UnsafeRawPointer, count: Int)
        /// The streamed request body is complete.
        case bodyEnd
        /// The streamed request body will not be completed (the connection closes, or the
        /// answer came first): the handler's reader must be told.
        case bodyCut
        /// The PROXY header is read and taken off the input: `source` is the client (nil:
        /// the header named none, and the peer stands). Before any request.
        case proxied(ClientAddress?)
        /// The connection had no valid PROXY header, or came from a peer not allowed to
        /// send one: it is closing, nothing of it parsed (for the loop's count and log).
        case proxyRefused(ProxyHeader.Refusal)
    }

    /// How a receive completion ended.
    public enum Received {
        case bytes(UnsafeRawBufferPointer)
        /// The peer finished sending (recv returned 0).
        case endOfInput
        /// The buffer ring was empty for a moment (ENOBUFS): read again.
        case noBuffers
        /// Our cancel took effect.
        case cancelled
        /// Any other error: the connection is gone.
        case failed
    }

    enum Receive: UInt8 { case idle, armed, cancelling }

    public let settings: Settings
    public private(set) var state: State = .released
    public private(set) var reader: HTTPConnectionStateMachine
    /// Received bytes not yet consumed by an answered request.
    public private(set) var input = InputBuffer()
    /// Responses not yet sent. Handlers append to it through a ResponseWriter during `.dispatch`.
    public var output = RawBuffer()
    /// The bytes of the send in flight (swapped with `output`, so appending never moves them).
    var flight = RawBuffer()
    var flightOffset = 0
    /// A delayed response, held until its timer fires.
    var held = RawBuffer()
    var fields = HeaderFieldStore()
    /// The parser's table, shared by every connection of the loop; read only inside `next`.
    let scratch: UnsafeMutableBufferPointer<HeaderField>
    /// The loop's cached Date value, for the error responses written here.
    let date: UnsafeRawPointer

    var receive = Receive.idle
    /// `.askPeerName` is owed (at the start, and once more when the loop asks again).
    var peerNameOwed = false
    var peerNameInFlight = false
    /// The PROXY header is still to be read (`expectsProxyHeader`).
    public private(set) var proxyPending = false
    /// `.proxyRefused` is owed, for this reason.
    var proxyRefusal: ProxyHeader.Refusal? = nil
    var sending = false
    var delayArmed = false
    var delayCancelled = false
    var delayToArm: UInt64 = 0
    var shutBoth = false
    /// Shutdowns submitted and not completed. The close waits for them: the kernel runs a
    /// ring's shutdown on a worker thread and looks up a direct descriptor only then, so a
    /// slot closed before it could be found holding the next connection.
    var shutdownsInFlight = 0
    var closeSubmitted = false
    /// Operations submitted and not yet completed (a multishot receive counts once).
    public private(set) var operationsInFlight = 0
    /// The peer closed its sending side.
    public private(set) var readClosed = false
    /// Close once everything queued is sent.
    var closeAfterSend = false
    /// The last request dispatched said `Connection: close` (or was HTTP/1.0 without
    /// keep-alive): by RFC 9112 §9.6 its client sends nothing after it.
    var peerSaidClose = false
    /// The handler has the current request (between `.dispatch` and `handled`).
    var dispatching = false
    /// A delayed response waits for its timer.
    public private(set) var pending = false
    /// The dispatched request's handler answers later (`suspended`), by `awaitDeadline`.
    public private(set) var awaiting = false
    var awaitDeadline: UInt64 = 0
    var awaitTimeout: UInt64 = 0
    /// `.abandonHandler` is owed to the loop.
    var abandonOwed = false
    /// The dispatched request's body goes to its handler in parts (`.bodyPart`).
    public private(set) var bodyStreaming = false
    /// Bytes of body parts handed out and not yet taken by the handler.
    var bodyHeld = 0
    /// Input to drop before the next parse: the last part handed out ended there.
    var bodyConsumeOwed = 0
    /// `.offerBody` was returned; `answerOffer` is due (nil) or was given.
    var offerPending = false
    var offerAnswer: Bool? = nil
    var bodyCutOwed = false
    /// The awaited response is being streamed (`beginStream` to `endStream`).
    public private(set) var streaming = false
    /// Its writer waits for the unsent output to drain (`.streamRoom` is owed).
    var roomWanted = false
    /// The stream's producer waits to borrow the descriptor, or holds it.
    var lendWanted = false
    public private(set) var lent = false
    /// Counts dispatches, so that a late answer is matched to the request it was for
    /// (`resumable`), never to a later one on the same connection.
    public private(set) var dispatchSerial: UInt32 = 0
    var pendingKeepAlive = false
    var consumed = 0
    var dispatchMark = 0
    /// The parser needs more bytes than the input holds.
    var stalled = false
    var sendDeadline: UInt64 = 0
    var lingerDeadline: UInt64 = 0

    public init(settings: Settings, limits: HTTPLimits, timeouts: HTTPTimeouts,
                scratch: UnsafeMutableBufferPointer<HeaderField>, date: UnsafeRawPointer) {
        self.settings = settings
        self.scratch = scratch
        self.date = date
        reader = HTTPConnectionStateMachine(limits: limits, timeouts: timeouts, now: 0)
    }

    /// A new connection in this (released) lifecycle; buffers from the last one are reused.
    public mutating func start(now: UInt64) {
        precondition(state == .released && operationsInFlight == 0, "start() on a lifecycle still in use")
        state = .open
        reader = HTTPConnectionStateMachine(limits: reader.limits, timeouts: reader.timeouts, now: now)
        input.count = 0
        output.count = 0
        flight.count = 0
        flightOffset = 0
        held.count = 0
        receive = .idle
        sending = false
        delayArmed = false
        delayCancelled = false
        delayToArm = 0
        shutBoth = false
        shutdownsInFlight = 0
        closeSubmitted = false
        readClosed = false
        closeAfterSend = false
        peerSaidClose = false
        dispatching = false
        pending = false
        awaiting = false
        abandonOwed = false
        streaming = false
        roomWanted = false
        bodyStreaming = false
        bodyHeld = 0
        bodyConsumeOwed = 0
        offerPending = false
        offerAnswer = nil
        bodyCutOwed = false
        reader.offersBodies = settings.offersBodies
        peerNameOwed = settings.asksPeerName
        peerNameInFlight = false
        proxyPending = settings.expectsProxyHeader
        proxyRefusal = nil
        stalled = false
    }

    /// Frees every buffer (the table is going away).
    public mutating func freeMemory() {
        input.release()
        output.release()
        flight.release()
        held.release()
        fields.release()
    }

    /// Unsent response bytes: queued, and the rest of the send in flight.
    public var unsentBytes: Int { output.count + flight.count - flightOffset }

    /// The request being dispatched, as its handler sees it (views valid during the call).
    public func request(_ head: RequestHead, body: ByteRange) -> Request {
        Request(head: head, bytes: input.bytes, fields: fields.fields, body: body)
    }

    /// The connection answers nothing now: a response waits, the handler has the request,
    /// or too much is unsent.
    var blocked: Bool { answerOutstanding || unsentBytes >= settings.maxUnsentOutput }

    /// A request's answer is not complete yet: delayed, in its handler's call, awaited, or
    /// being streamed.
    var answerOutstanding: Bool { pending || dispatching || awaiting || streaming }

    var canProcess: Bool {
        state == .open && !blocked && !closeAfterSend && !stalled && !input.isEmpty
    }

    /// Reading waits for the connection to catch up.
    public var readPaused: Bool { !closeAfterSend && blocked && input.count >= settings.readAheadBytes }

    // MARK: - What to do next

    public mutating func next(now: UInt64) -> Action {
        if bodyCutOwed {
            bodyCutOwed = false
            return .bodyCut
        }
        if abandonOwed {
            abandonOwed = false
            return .abandonHandler
        }
        if let refusal = proxyRefusal {
            proxyRefusal = nil
            return .proxyRefused(refusal)
        }
        switch state {
        case .released:
            return .none
        case .closing:
            return nextWhileClosing()
        case .lingering:
            if receive == .idle && !readClosed { return armReceive() }
            return .none
        case .open:
            break
        }
        if peerNameOwed {
            peerNameOwed = false
            peerNameInFlight = true
            operationsInFlight += 1
            return .askPeerName
        }
        if delayToArm > 0 {
            let ns = delayToArm
            delayToArm = 0
            delayArmed = true
            operationsInFlight += 1
            return .armDelay(nanoseconds: ns)
        }
        if roomWanted && unsentBytes <= settings.maxUnsentOutput / 2 {
            roomWanted = false
            return .streamRoom
        }
        if lendWanted && !sending && unsentBytes == 0 {
            lendWanted = false
            lent = true
            operationsInFlight += 1
            // A send and a lend never overlap: one progress deadline serves both.
            sendDeadline = now &+ settings.sendStallNanoseconds
            return .lendDescriptor
        }
        // No request is dispatched before its connection's client is known: an IPv6 peer is
        // asked twice, and its first bytes may be read in between; and a PROXY header, which
        // is checked against the peer, comes first.
        if proxyPending && !peerNameInFlight && !stalled && !input.isEmpty {
            if let action = readProxyHeader() { return action }
        }
        if !peerNameInFlight && !proxyPending {
            if offerAnswer != nil, let action = processInput(now: now) { return action }
            while canStreamBody {
                if let action = processInput(now: now) { return action }
            }
            while canProcess {
                if let action = processInput(now: now) { return action }
            }
        }
        if readClosed && !answerOutstanding && (input.isEmpty || stalled) { closeAfterSend = true }
        if !sending && !lent {
            if flightOffset < flight.count { return startSend(now: now) }
            if !output.isEmpty {
                flight.count = 0
                flightOffset = 0
                swap(&output, &flight)
                return startSend(now: now)
            }
            if closeAfterSend && !answerOutstanding {
                if readClosed {
                    beginClosing()
                    return nextWhileClosing()
                }
                // The client asked to close and sent nothing after its request: nothing can
                // arrive to turn our close into a reset, so there is no lingering (nor its
                // shutdown, which on a direct descriptor costs a kernel thread's wake-up).
                // nginx decides the same way.
                if peerSaidClose && input.isEmpty {
                    beginClosing()
                    return nextWhileClosing()
                }
                // Closing now, with input unread, would send a reset that can destroy the
                // response before the client reads it: shut our side, read until the peer
                // closes (nginx's lingering close).
                state = .lingering
                lingerDeadline = now &+ settings.lingerNanoseconds
                input.count = 0
                shutdownsInFlight += 1
                operationsInFlight += 1
                return .shutdownWrite
            }
        }
        if !readClosed {
            if receive == .idle && !readPaused { return armReceive() }
            if receive == .armed && readPaused {
                receive = .cancelling
                operationsInFlight += 1
                return .cancelReceive
            }
        }
        return .none
    }

    /// The PROXY header at the start of the input: taken off it, or the connection closed.
    mutating func readProxyHeader() -> Action? {
        switch ProxyHeader.parse(input.bytes, maxLength: settings.maxProxyHeaderBytes) {
        case .needMore:
            stalled = true
            return nil
        case .invalid(let why):
            refuseProxy(why)
            proxyRefusal = nil
            return .proxyRefused(why)
        case .header(let length, let source):
            proxyPending = false
            input.consume(length)
            return .proxied(source)
        }
    }

    /// Closes the connection for want of a valid PROXY header (or a trusted peer), before
    /// anything of it is parsed; `.proxyRefused` follows.
    public mutating func refuseProxy(_ why: ProxyHeader.Refusal) {
        guard state == .open, proxyPending else { return }
        proxyPending = false
        proxyRefusal = why
        input.count = 0
        beginClosing()
    }

    mutating func armReceive() -> Action {
        receive = .armed
        operationsInFlight += 1
        return .armReceive
    }

    mutating func startSend(now: UInt64) -> Action {
        sending = true
        operationsInFlight += 1
        sendDeadline = now &+ settings.sendStallNanoseconds
        return .send(UnsafeRawPointer(flight.base!) + flightOffset, count: min(flight.count - flightOffset, settings.maxSendBytes))
    }

    /// A streamed body's next part may be parsed: its handler awaits it, holds less than
    /// `readAheadBytes` of earlier parts, and bytes (or the body's end) may be there.
    var canStreamBody: Bool {
        state == .open && bodyStreaming && !dispatching && bodyHeld < settings.readAheadBytes && !stalled
    }

    /// One step of the parser over the input; an action for the loop, or nil to go on.
    mutating func processInput(now: UInt64) -> Action? {
        if bodyConsumeOwed > 0 {
            input.consume(bodyConsumeOwed)
            reader.rebase(by: bodyConsumeOwed)
            bodyConsumeOwed = 0
        }
        let heads = reader.headsParsed
        var count = input.count
        let action: HTTPConnectionStateMachine.Action
        if let stream = offerAnswer {
            offerAnswer = nil
            if stream {
                if let refused = reader.streamBody(now: now) {
                    action = refused
                } else {
                    // Dispatched at once, with no body: the handler reads it in parts.
                    let head = reader.head
                    bodyStreaming = true
                    // Nothing of an earlier request's parts is owed or held any more.
                    bodyHeld = 0
                    bodyConsumeOwed = 0
                    dispatching = true
                    dispatchSerial &+= 1
                    peerSaidClose = !head.keepAlive
                    consumed = head.headEnd
                    dispatchMark = output.count
                    return .dispatch(head, body: ByteRange(start: head.headEnd, count: 0))
                }
            } else {
                action = reader.bufferBody(input.base!, count: &count, now: now)
            }
        } else {
            action = reader.process(input.base!, count: &count, now: now, fields: scratch)
        }
        input.count = count
        if reader.headsParsed != heads { fields.assign(scratch, count: reader.head.fieldCount) }
        switch action {
        case .needMore:
            stalled = true
            return nil
        case .sendContinue:
            // Never inside a response already under way (a streamed answer to a streamed body).
            if !streaming { output.append(ResponseWriter.continueLine) }
            return nil
        case .reject(let status):
            if bodyStreaming {
                // A body that breaks off (malformed chunks, too long): its handler's answer
                // can no longer be framed after an error of ours, so the connection goes.
                beginClosing()
                return nil
            }
            ResponseWriter.writeError(into: &output, status: status, date: date)
            closeAfterSend = true
            return nil
        case .offer(let head):
            offerPending = true
            return .offerBody(head)
        case .bodyPart(let range):
            // Progress: the handler's deadline measures a stall, not the body's length.
            if awaiting { setAwaitDeadline(now: now) }
            bodyHeld += Int(range.count)
            bodyConsumeOwed = range.upperBound
            return .bodyPart(UnsafeRawPointer(input.base!) + range.lowerBound, count: Int(range.count))
        case .bodyEnd(let used):
            bodyStreaming = false
            consumed = used
            // The handler's deadline runs from the end of its body, however long that took.
            if awaiting { setAwaitDeadline(now: now) }
            return .bodyEnd
        case .dispatch(let head, let body, let used):
            dispatching = true
            dispatchSerial &+= 1
            peerSaidClose = !head.keepAlive
            consumed = used
            dispatchMark = output.count
            return .dispatch(head, body: body)
        }
    }

    mutating func nextWhileClosing() -> Action {
        if (sending || lent) && !shutBoth {
            shutBoth = true
            shutdownsInFlight += 1
            operationsInFlight += 1
            return .shutdownBoth
        }
        if receive == .armed {
            receive = .cancelling
            operationsInFlight += 1
            return .cancelReceive
        }
        if delayArmed && !delayCancelled {
            delayCancelled = true
            operationsInFlight += 1
            return .cancelDelay
        }
        delayToArm = 0
        if !closeSubmitted {
            if shutdownsInFlight > 0 || lent { return .none }
            closeSubmitted = true
            operationsInFlight += 1
            return .close
        }
        if operationsInFlight == 0 {
            state = .released
            input.count = 0
            output.count = 0
            flight.count = 0
            held.count = 0
            input.shrink(ifAbove: 64 * 1024)
            output.shrink(ifAbove: 64 * 1024)
            flight.shrink(ifAbove: 64 * 1024)
            held.shrink(ifAbove: 64 * 1024)
            return .release
        }
        return .none
    }

    mutating func beginClosing() {
        guard state == .open || state == .lingering else { return }
        state = .closing
        if awaiting || streaming {
            awaiting = false
            streaming = false
            roomWanted = false
            lendWanted = false
            abandonOwed = true
        }
        if bodyStreaming {
            bodyStreaming = false
            bodyCutOwed = true
        }
        reader.close()
    }

    // MARK: - Events

    /// The handler wrote its response to the dispatched request. With `delayNanoseconds`
    /// above 0 the response (and so everything after it) waits that long.
    /// Returns whether a response is complete (not delayed).
    @discardableResult
    public mutating func handled(keepAlive: Bool, delayNanoseconds: UInt64 = 0, now: UInt64) -> Bool {
        precondition(dispatching, "handled() without a dispatched request")
        dispatching = false
        if delayNanoseconds > 0 {
            let produced = output.count - dispatchMark
            held.count = 0
            held.append(UnsafeRawBufferPointer(start: output.base.map { $0 + dispatchMark }, count: produced))
            output.count = dispatchMark
            pending = true
            pendingKeepAlive = keepAlive
            delayToArm = delayNanoseconds
            return false
        }
        finishRequest(keepAlive: keepAlive, now: now)
        return true
    }

    /// The loop's answer to `.offerBody`: whether the handler takes the body in parts.
    public mutating func answerOffer(stream: Bool) {
        precondition(offerPending, "answerOffer() without an offer")
        offerPending = false
        offerAnswer = stream
    }

    /// The handler took `count` bytes of the parts handed out: more may follow.
    public mutating func bodyTaken(_ count: Int) {
        bodyHeld = max(0, bodyHeld - count)
    }

    /// The handler of the dispatched request will answer later, within `timeoutNanoseconds`
    /// (an async handler's task). Whatever it wrote now is discarded: its response is
    /// written when it resumes (`resumable`, then `resumed`).
    public mutating func suspended(timeoutNanoseconds: UInt64, now: UInt64) {
        precondition(dispatching, "suspended() without a dispatched request")
        dispatching = false
        output.count = dispatchMark
        awaiting = true
        if bodyStreaming {
            // The head was copied by the handler; only the body's parts are read from now on.
            input.consume(consumed)
            reader.rebase(by: consumed)
            consumed = 0
        }
        awaitTimeout = timeoutNanoseconds
        setAwaitDeadline(now: now)
    }

    /// Whether the answer for dispatch `serial` may be written now (into `output`, then
    /// `resumed`): its request is still the one awaited, and the connection still open.
    public func resumable(serial: UInt32) -> Bool {
        awaiting && serial == dispatchSerial && state == .open
    }

    /// Saturating: `.max` means "no deadline", not one in the past.
    mutating func setAwaitDeadline(now: UInt64) {
        let (deadline, overflow) = now.addingReportingOverflow(awaitTimeout)
        awaitDeadline = overflow ? .max : deadline
    }

    /// The awaited response has been written to `output`.
    public mutating func resumed(keepAlive: Bool, now: UInt64) {
        precondition(awaiting, "resumed() without an awaited response")
        awaiting = false
        finishRequest(keepAlive: keepAlive, now: now)
    }

    /// The awaited response's head is written (into `output`) and its body will follow in
    /// parts (`output` appends), until `endStream`.
    public mutating func beginStream() {
        precondition(awaiting, "beginStream() without an awaited response")
        awaiting = false
        streaming = true
    }

    /// Whether the stream for dispatch `serial` may write now.
    public func streamWritable(serial: UInt32) -> Bool {
        streaming && serial == dispatchSerial && state == .open
    }

    /// Whether the stream's writer should wait before it writes more.
    public var streamIsFull: Bool { unsentBytes >= settings.maxUnsentOutput }

    /// The stream's writer waits: `.streamRoom` comes when at most half the bound is unsent.
    public mutating func waitForRoom() {
        precondition(streaming, "waitForRoom() without a stream")
        roomWanted = true
    }

    /// The stream's producer asks for the descriptor: `.lendDescriptor` comes once all
    /// that was written before is sent.
    public mutating func lend() {
        precondition(streaming && !lent && !lendWanted, "lend() without a stream, or twice")
        lendWanted = true
    }

    /// The borrower moved bytes: the send-stall timer starts again.
    public mutating func lentProgress(now: UInt64) {
        if lent { sendDeadline = now &+ settings.sendStallNanoseconds }
    }

    /// The borrower gave the descriptor back (or the loop did, for a borrower gone).
    public mutating func descriptorReturned() {
        precondition(lent && operationsInFlight > 0, "descriptorReturned() without a lent descriptor")
        lent = false
        operationsInFlight -= 1
    }

    /// The stream's last part is written.
    public mutating func endStream(keepAlive: Bool, now: UInt64) {
        precondition(streaming && !lent, "endStream() without a stream, or with its descriptor lent")
        streaming = false
        roomWanted = false
        finishRequest(keepAlive: keepAlive, now: now)
    }

    mutating func finishRequest(keepAlive: Bool, now: UInt64) {
        if bodyStreaming {
            // Answered before its body was read to the end: what is left cannot be told
            // from the next request without reading it, so the connection closes after the
            // answer, and the handler's reader hears that the body is cut.
            bodyStreaming = false
            bodyCutOwed = true
            closeAfterSend = true
            reader.close()
            return
        }
        if reader.phase == .dispatched { reader.responded(keepAlive: keepAlive, now: now) }
        input.consume(consumed)
        consumed = 0
        stalled = false
        if !keepAlive { closeAfterSend = true }
    }

    /// The delay's timer completed (fired or cancelled). Returns whether the held response
    /// was released to be sent.
    @discardableResult
    public mutating func delayCompleted(now: UInt64) -> Bool {
        precondition(delayArmed, "delayCompleted() without a delay")
        delayArmed = false
        operationsInFlight -= 1
        guard pending else { return false }
        pending = false
        guard state == .open else { return false }
        output.append(held.bytes)
        held.count = 0
        finishRequest(keepAlive: pendingKeepAlive, now: now)
        return true
    }

    /// A receive completion; `final` when it lacked F_MORE (the multishot receive ended).
    public mutating func received(_ result: Received, final: Bool) {
        if final {
            precondition(receive != .idle, "a receive completion without a receive")
            receive = .idle
            operationsInFlight -= 1
        }
        switch result {
        case .bytes(let bytes):
            // After a final response (or lingering), input is read only to be discarded.
            if state == .open && !closeAfterSend {
                input.append(bytes)
                stalled = false
            }
        case .endOfInput:
            guard state == .open || state == .lingering else { return }
            readClosed = true
            // A client that closes while its handler is awaited has given up on the answer:
            // the handler is abandoned (its task cancelled), as nginx finalizes such a
            // request with 499. A delayed response, which costs nothing to finish, still goes.
            if state == .lingering || awaiting || streaming || bodyStreaming { beginClosing() }
        case .noBuffers, .cancelled:
            break
        case .failed:
            beginClosing()
        }
    }

    /// A send completed: `result` bytes went out, or it failed (negative).
    public mutating func sendCompleted(_ result: Int) {
        precondition(sending, "a send completion without a send")
        sending = false
        operationsInFlight -= 1
        guard state == .open else { return }
        guard result > 0 else {
            beginClosing()
            return
        }
        flightOffset += result
        if flightOffset >= flight.count {
            flight.count = 0
            flightOffset = 0
            flight.shrink(ifAbove: 256 * 1024)
        }
    }

    /// The ask for the client's address completed. `again`: the loop must ask once more
    /// (the address was longer than it asked for); not once the connection is closing.
    public mutating func peerNameCompleted(again: Bool) {
        precondition(operationsInFlight > 0, "a peer-name completion with nothing in flight")
        operationsInFlight -= 1
        peerNameInFlight = false
        if again && state == .open { peerNameOwed = true }
    }

    /// A cancel (of the receive or the delay) completed.
    public mutating func cancelCompleted() {
        precondition(operationsInFlight > 0, "a cancel completion with nothing in flight")
        operationsInFlight -= 1
    }

    /// A shutdown completed (whatever its result: ENOTCONN only says the peer is gone).
    public mutating func shutdownCompleted() {
        precondition(shutdownsInFlight > 0 && operationsInFlight > 0, "a shutdown completion without a shutdown")
        shutdownsInFlight -= 1
        operationsInFlight -= 1
    }

    /// The close of the descriptor completed.
    public mutating func closeCompleted() {
        precondition(closeSubmitted && operationsInFlight > 0, "a close completion without a close")
        operationsInFlight -= 1
    }

    /// The loop's periodic timer: enforces the connection's deadlines.
    public mutating func tick(now: UInt64) {
        switch state {
        case .open:
            // While a body streams, its handler's deadline applies only when the handler is the
            // one that stalls (it holds all it may); a slow client meets the body's idle timer.
            if awaiting && (!bodyStreaming || bodyHeld >= settings.readAheadBytes) && now >= awaitDeadline {
                // The handler overran: the client is told so, and the handler abandoned.
                awaiting = false
                abandonOwed = true
                ResponseWriter.writeError(into: &output, status: .gatewayTimeout, date: date)
                finishRequest(keepAlive: false, now: now)
                return
            }
            if sending || lent {
                // A client that stops reading must not hold a connection (or a drain)
                // forever; the request timers do not run while our response goes out.
                if now >= sendDeadline { beginClosing() }
                return
            }
            releaseIfIdle(now: now)
            // While its handler holds the parts it was given, reading has paused on our side:
            // the body's idle timer is not the client's to meet.
            if bodyStreaming && bodyHeld >= settings.readAheadBytes { return }
            guard let deadline = reader.deadline, now >= deadline else { return }
            if proxyPending {
                // No header in time: nothing is written back (the peer may not be HTTP).
                refuseProxy(.timedOut)
                return
            }
            switch reader.expire(now: now) {
            case .none: break
            case .close: beginClosing()
            case .reject(let status):
                if bodyStreaming {
                    beginClosing()  // a body that stopped coming: see processInput
                } else {
                    ResponseWriter.writeError(into: &output, status: status, date: date)
                    closeAfterSend = true
                }
            }
        case .lingering:
            if now >= lingerDeadline { beginClosing() }
        case .closing, .released:
            break
        }
    }

    /// During a drain: closes the connection if it has been idle between requests for at
    /// least `grace`, or, when it never sent a byte, for at least `newGrace` since it opened
    /// (it gets the chance to send its first request, but cannot hold the drain until its
    /// header timeout, which would outlast the primary's shutdown timeout).
    @discardableResult
    public mutating func closeIfIdle(now: UInt64, grace: UInt64, newGrace: UInt64) -> Bool {
        guard state == .open, !sending, unsentBytes == 0, input.isEmpty, !answerOutstanding,
              reader.phase == .idle else { return false }
        let since = reader.idleSince ?? reader.phaseStart
        guard now &- since >= (reader.requestCount == 0 ? newGrace : grace) else { return false }
        beginClosing()
        return true
    }

    /// Frees the buffers of a keep-alive connection idle for `idleReleaseNanoseconds`:
    /// nothing is unsent, in flight or held, and no request is under way.
    mutating func releaseIfIdle(now: UInt64) {
        guard settings.idleReleaseNanoseconds > 0, !sending, !answerOutstanding, unsentBytes == 0,
              input.isEmpty, held.isEmpty, let since = reader.idleSince,
              now &- since >= settings.idleReleaseNanoseconds,
              input.capacity | output.capacity | flight.capacity | held.capacity | fields.capacity != 0 else { return }
        input.release()
        output.release()
        flight.release()
        flightOffset = 0
        held.release()
        fields.release()
    }

    /// Whether the connection holds buffers (false once an idle one gave them back).
    public var holdsBuffers: Bool {
        input.capacity | output.capacity | flight.capacity | held.capacity | fields.capacity != 0
    }

    /// Closes the connection at once (the loop's own reasons).
    public mutating func abort() { beginClosing() }
}
