import Glibc

// The life of one HTTP/1.1 connection, as a pure state machine (after hummingbird's
// HTTPConnectionStateHandler): the event loop feeds it the bytes it has and the time, and
// performs the action it returns. No sockets, no clock, no allocation, so every rule here is
// tested directly.
//
//     idle ──first byte──▶ head ──blank line──▶ body ──complete──▶ dispatched ──responded──▶ idle
//       │                    │                    │                                        │
//       └─ keep-alive/header timeout: close      └── 408 on timeout, 4xx/5xx on errors ───▶ closed
//
// With `offersBodies`, a head that announces a body is offered first (`.offer`): the caller
// either buffers the body as above (`bufferBody`) or takes it in parts as it arrives
// (`streamBody`): `.bodyPart`s, then `.bodyEnd`, while the request is already dispatched.
//
// Input contract: `process` sees the unconsumed input from the start of the current request.
// After `.dispatch`, the loop answers, drops `consumed` bytes from the front and calls
// `responded`. For chunked bodies the decoded bytes are written in place over the encoded
// ones, right after the head, so the body is contiguous and the buffer never holds more
// than head + decoded body + one read.

public struct HTTPTimeouts: Sendable, Equatable {
    /// Time allowed to receive a complete header section, from its first byte (and from the
    /// connection's start for the first request). Trickling bytes does not extend it.
    public var headerNanoseconds: UInt64 = 10_000_000_000
    /// How long a keep-alive connection may sit idle between requests.
    public var keepAliveNanoseconds: UInt64 = 5_000_000_000
    /// How long a request body may go without a byte arriving.
    public var bodyIdleNanoseconds: UInt64 = 10_000_000_000

    public init(headerNanoseconds: UInt64 = 10_000_000_000, keepAliveNanoseconds: UInt64 = 5_000_000_000,
                bodyIdleNanoseconds: UInt64 = 10_000_000_000) {
        self.headerNanoseconds = headerNanoseconds
        self.keepAliveNanoseconds = keepAliveNanoseconds
        self.bodyIdleNanoseconds = bodyIdleNanoseconds
    }
}

public struct HTTPConnectionStateMachine: Sendable {
    public enum Phase: Equatable, Sendable {
        case idle, head, body, dispatched, closed
        /// A head with a body was offered; waiting for `bufferBody` or `streamBody`.
        case offered
        /// The body goes to the handler in parts.
        case streamingBody
    }

    public enum Action: Equatable, Sendable {
        /// Wait for more bytes.
        case needMore
        /// Write "100 Continue" now, then keep reading the body.
        case sendContinue
        /// A complete request: answer it, drop `consumed` bytes, then call `responded`.
        case dispatch(RequestHead, body: ByteRange, consumed: Int)
        /// Answer with this status and `Connection: close`, then close; read nothing more.
        case reject(HTTPStatus)
        /// (`offersBodies`) A head whose body has not been read: call `bufferBody` or `streamBody`.
        case offer(RequestHead)
        /// (A streamed body) These bytes of the input are the body's next part; drop the
        /// input up to its end (`rebase`) once they are taken.
        case bodyPart(ByteRange)
        /// (A streamed body) The body is complete; the input up to `consumed` was its last.
        case bodyEnd(consumed: Int)
    }

    public enum TimeoutAction: Equatable, Sendable {
        case none
        /// Close without a response (an idle connection).
        case close
        /// A request was partly received: answer 408 and close.
        case reject(HTTPStatus)
    }

    /// Bytes of empty lines accepted before a request-line (16 CRLFs).
    public static let maxLeadingEmptyLineBytes = 32

    public let limits: HTTPLimits
    public let timeouts: HTTPTimeouts
    public private(set) var phase: Phase = .idle
    /// Requests answered on this connection.
    public private(set) var requestCount = 0
    /// Heads parsed on this connection: it grows exactly when a parse has just written a
    /// request's fields into the caller's table (ConnectionLifecycle copies them then).
    public private(set) var headsParsed = 0
    /// When the current phase's timer started.
    var phaseStart: UInt64
    var scanResume = 0
    public private(set) var head = RequestHead()
    var continueSent = false
    var chunked = ChunkedDecoder()
    var chunkCursor = 0  // next encoded byte to decode
    var chunkWrite = 0   // where the next decoded byte goes
    /// Offer heads with bodies before their bodies are read (`.offer`).
    public var offersBodies = false
    /// A streamed body: the next byte not yet handed out, and how many were.
    var streamCursor = 0
    public private(set) var streamedBytes = 0
    /// A streamed chunked body ended; its `.bodyEnd` is due.
    var streamEnded = false

    public init(limits: HTTPLimits = HTTPLimits(), timeouts: HTTPTimeouts = HTTPTimeouts(), now: UInt64) {
        self.limits = limits
        self.timeouts = timeouts
        self.phaseStart = now
    }

    /// Since when the connection has been idle between requests, if it is; nil for a new
    /// connection that has not sent its first request yet (it is owed an answer to it).
    public var idleSince: UInt64? {
        phase == .idle && requestCount > 0 ? phaseStart : nil
    }

    /// The time at which `expire` will act, if any timer applies now.
    public var deadline: UInt64? {
        switch phase {
        case .idle: return phaseStart &+ (requestCount == 0 ? timeouts.headerNanoseconds : timeouts.keepAliveNanoseconds)
        case .head: return phaseStart &+ timeouts.headerNanoseconds
        case .body, .streamingBody: return phaseStart &+ timeouts.bodyIdleNanoseconds
        case .dispatched, .closed, .offered: return nil
        }
    }

    /// Called by the loop's timer; acts only when the deadline has passed.
    public mutating func expire(now: UInt64) -> TimeoutAction {
        guard let d = deadline, now >= d else { return .none }
        switch phase {
        case .idle:
            phase = .closed
            return .close
        case .head, .body, .streamingBody:
            phase = .closed
            return .reject(.requestTimeout)
        case .dispatched, .closed, .offered:
            return .none
        }
    }

    /// The peer closed its side, or the loop closes the connection for its own reasons.
    public mutating func close() { phase = .closed }

    /// The response to the dispatched request is written.
    public mutating func responded(keepAlive: Bool, now: UInt64) {
        precondition(phase == .dispatched, "responded() without a dispatched request")
        requestCount += 1
        phase = keepAlive ? .idle : .closed
        phaseStart = now
    }

    /// Looks at the input and says what to do next. `count` may shrink (chunked decoding in place).
    public mutating func process(_ base: UnsafeMutableRawPointer, count: inout Int, now: UInt64,
                                 fields: UnsafeMutableBufferPointer<HeaderField>) -> Action {
        switch phase {
        case .closed, .dispatched, .offered:
            return .needMore
        case .streamingBody:
            phaseStart = now
            return processStreamingBody(base, count: &count)
        case .idle:
            // Empty lines before a request-line are ignored (RFC 9112 §2.2).
            // A few are tolerated; a stream of them is not a client worth buffering for.
            var start = 0
            let bytes = UnsafeRawBufferPointer(start: base, count: count)
            while start + 1 < count && bytes[start] == 13 && bytes[start + 1] == 10 {
                start += 2
                if start > Self.maxLeadingEmptyLineBytes { return reject(.badRequest) }
            }
            if start == count || (start + 1 == count && bytes[start] == 13) { return .needMore }
            phase = .head
            // The first request's header timer runs from the connection's start (set in
            // init); a later one's from its first byte.
            if requestCount > 0 { phaseStart = now }
            head = RequestHead()
            head.headStart = start
            scanResume = start
            continueSent = false
            return processHead(base, count: &count, now: now, fields: fields)
        case .head:
            return processHead(base, count: &count, now: now, fields: fields)
        case .body:
            phaseStart = now
            return processBody(base, count: &count)
        }
    }

    mutating func processHead(_ base: UnsafeMutableRawPointer, count: inout Int, now: UInt64,
                              fields: UnsafeMutableBufferPointer<HeaderField>) -> Action {
        let bytes = UnsafeRawBufferPointer(start: base, count: count)
        let start = head.headStart
        switch HeadParser.findEnd(bytes, start: start, from: scanResume) {
        case .bareLF:
            return reject(.badRequest)
        case .notYet(let resume):
            scanResume = resume
            let buffered = count - start
            // A method that does not end within its limit is not one we implement (501); a
            // request line too long after it is a too-long target (414).
            if buffered > HeadParser.maxMethodBytes,
               bytes[start..<(start + HeadParser.maxMethodBytes + 1)].allSatisfy(HeadParser.isToken) {
                return reject(.notImplemented)
            }
            let requestLineDone = bytes[start..<count].contains(10)
            if !requestLineDone && buffered > limits.maxTargetBytes + 32 { return reject(.uriTooLong) }
            if buffered > limits.maxTargetBytes + limits.maxHeaderBytes + 64 { return reject(.headerFieldsTooLarge) }
            return .needMore
        case .found(let end):
            switch HeadParser.parse(bytes, start: start, end: end, limits: limits, fields: fields) {
            case .invalid(let status):
                return reject(status)
            case .complete(let parsed):
                head = parsed
                headsParsed += 1
            }
        }
        switch head.framing {
        case .none:
            return dispatch(body: ByteRange(start: head.headEnd, count: 0), consumed: head.headEnd)
        case .contentLength, .chunked:
            if offersBodies {
                phase = .offered
                return .offer(head)
            }
        }
        return startBody(base, count: &count, now: now)
    }

    mutating func startBody(_ base: UnsafeMutableRawPointer, count: inout Int, now: UInt64) -> Action {
        if case .contentLength(let n) = head.framing, n > limits.maxBodyBytes { return reject(.contentTooLarge) }
        chunked = ChunkedDecoder()
        chunkCursor = head.headEnd
        chunkWrite = head.headEnd
        phase = .body
        phaseStart = now
        return processBody(base, count: &count)
    }

    /// The offered head's body is read whole, as without an offer (then `.dispatch`).
    public mutating func bufferBody(_ base: UnsafeMutableRawPointer, count: inout Int, now: UInt64) -> Action {
        precondition(phase == .offered, "bufferBody() without an offered head")
        return startBody(base, count: &count, now: now)
    }

    /// The offered head's body goes out in parts (`process` then returns `.bodyPart`s and
    /// `.bodyEnd`); the request counts as dispatched meanwhile. 413 when its announced
    /// length is above `maxStreamedBodyBytes`.
    public mutating func streamBody(now: UInt64) -> Action? {
        precondition(phase == .offered, "streamBody() without an offered head")
        if case .contentLength(let n) = head.framing, n > limits.maxStreamedBodyBytes { return reject(.contentTooLarge) }
        chunked = ChunkedDecoder()
        chunkCursor = head.headEnd
        chunkWrite = head.headEnd
        streamCursor = head.headEnd
        streamedBytes = 0
        streamEnded = false
        phase = .streamingBody
        phaseStart = now
        return nil
    }

    /// The caller dropped `n` bytes from the front of the input (the head, parts taken).
    public mutating func rebase(by n: Int) {
        precondition(n <= streamCursor, "rebase past what was handed out")
        streamCursor -= n
        if case .chunked = head.framing {
            chunkCursor -= n
            chunkWrite -= n
        }
    }

    mutating func processStreamingBody(_ base: UnsafeMutableRawPointer, count: inout Int) -> Action {
        switch head.framing {
        case .none:
            phase = .dispatched
            return .bodyEnd(consumed: streamCursor)
        case .contentLength(let n):
            let remaining = n - streamedBytes
            if remaining == 0 {
                phase = .dispatched
                return .bodyEnd(consumed: streamCursor)
            }
            let available = min(count - streamCursor, remaining)
            guard available > 0 else { return continueIfExpected() }
            let part = ByteRange(start: streamCursor, count: available)
            streamCursor += available
            streamedBytes += available
            continueSent = true  // the client sends without waiting: no 100 now (RFC 9110 §10.1.1)
            return .bodyPart(part)
        case .chunked:
            if streamEnded {
                phase = .dispatched
                return .bodyEnd(consumed: streamCursor)
            }
            let partStart = chunkWrite
            switch decodeChunks(base, count: &count, maxBodyBytes: limits.maxStreamedBodyBytes) {
            case .invalid(let status): return reject(status)
            case .needMore: break
            case .done: streamEnded = true
            }
            let length = chunkWrite - partStart
            streamCursor = chunkWrite
            streamedBytes += length
            if length > 0 {
                continueSent = true
                return .bodyPart(ByteRange(start: partStart, count: length))
            }
            if streamEnded {
                phase = .dispatched
                return .bodyEnd(consumed: streamCursor)
            }
            return continueIfExpected()
        }
    }

    mutating func processBody(_ base: UnsafeMutableRawPointer, count: inout Int) -> Action {
        switch head.framing {
        case .none:
            return dispatch(body: ByteRange(start: head.headEnd, count: 0), consumed: head.headEnd)
        case .contentLength(let n):
            if count - head.headEnd >= n {
                return dispatch(body: ByteRange(start: head.headEnd, count: n), consumed: head.headEnd + n)
            }
            return continueIfExpected()
        case .chunked:
            switch decodeChunks(base, count: &count, maxBodyBytes: limits.maxBodyBytes) {
            case .invalid(let status): return reject(status)
            case .needMore: return continueIfExpected()
            case .done:
                return dispatch(body: ByteRange(start: head.headEnd, count: chunkWrite - head.headEnd),
                                consumed: chunkWrite)
            }
        }
    }

    enum ChunkStep { case invalid(HTTPStatus), needMore, done }

    /// Decodes what chunked input there is, in place: the decoded bytes go to `chunkWrite`
    /// onwards, right after what was decoded before, and the encoded bytes they came from
    /// are dropped (`count` shrinks). At the body's end, the bytes after it (a pipelined
    /// request) move up behind the decoded body. Buffered and streamed bodies alike.
    mutating func decodeChunks(_ base: UnsafeMutableRawPointer, count: inout Int, maxBodyBytes: Int) -> ChunkStep {
        let input = UnsafeRawBufferPointer(start: base + chunkCursor, count: count - chunkCursor)
        var write = chunkWrite
        var bodyLimits = limits
        bodyLimits.maxBodyBytes = maxBodyBytes
        let outcome = chunked.decode(input, limits: bodyLimits) { piece in
            // Decoded bytes never overtake the encoded ones: memmove is safe.
            if base + write != UnsafeMutableRawPointer(mutating: piece.baseAddress!) {
                memmove(base + write, piece.baseAddress!, piece.count)
            }
            write += piece.count
        }
        chunkWrite = write
        switch outcome {
        case .invalid(let status):
            return .invalid(status)
        case .needMore:
            count = chunkWrite
            chunkCursor = chunkWrite
            return .needMore
        case .done(let used):
            let rest = count - (chunkCursor + used)
            if rest > 0 { memmove(base + chunkWrite, base + chunkCursor + used, rest) }
            count = chunkWrite + rest
            chunkCursor = chunkWrite
            return .done
        }
    }

    mutating func continueIfExpected() -> Action {
        if head.expectContinue && !continueSent {
            continueSent = true
            return .sendContinue
        }
        return .needMore
    }

    mutating func dispatch(body: ByteRange, consumed: Int) -> Action {
        phase = .dispatched
        return .dispatch(head, body: body, consumed: consumed)
    }

    mutating func reject(_ status: HTTPStatus) -> Action {
        phase = .closed
        return .reject(status)
    }
}

