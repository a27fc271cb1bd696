import Testing
@testable import HTTP1

// Comparisons of an optional deadline go through `?? .max`: under AddressSanitizer, Swift
// Testing's boxing of a `UInt64?` operand into AnyHashable reports a stack-buffer-overflow
// inside the Swift runtime (Swift 6.3.1), which aborts the whole run.

/// One connection's input as the event loop keeps it: a RawBuffer the machine reads (and,
/// for chunked bodies, rewrites in place), a field table, and the machine itself.
/// Time is a plain number the test advances.
final class TestConnection {
    var input = RawBuffer(capacity: 64)
    var machine: HTTPConnectionStateMachine
    let fields: UnsafeMutableBufferPointer<HeaderField>

    init(limits: HTTPLimits = HTTPLimits(), timeouts: HTTPTimeouts = TestConnection.timeouts, now: UInt64 = 0) {
        machine = HTTPConnectionStateMachine(limits: limits, timeouts: timeouts, now: now)
        fields = .allocate(capacity: 128)
        fields.initialize(repeating: HeaderField(name: .empty, value: .empty))
    }

    deinit {
        input.release()
        fields.deallocate()
    }

    /// Distinct values so a test can tell which timer applies.
    static let timeouts = HTTPTimeouts(headerNanoseconds: 1_000, keepAliveNanoseconds: 300, bodyIdleNanoseconds: 700)

    /// Appends `text` (as a read would) and runs the machine.
    @discardableResult
    func feed(_ text: String, now: UInt64) -> HTTPConnectionStateMachine.Action {
        input.append(bytes: Array(text.utf8))
        return process(now: now)
    }

    func process(now: UInt64) -> HTTPConnectionStateMachine.Action {
        var count = input.count
        let action = machine.process(input.base!, count: &count, now: now, fields: fields)
        precondition(count <= input.count, "count never grows")
        input.count = count
        return action
    }

    /// What the loop does after answering: drop the request's bytes, then report the response.
    func respond(consumed: Int, keepAlive: Bool = true, now: UInt64) {
        input.removeFirst(consumed)
        machine.responded(keepAlive: keepAlive, now: now)
    }

    var text: String { String(decoding: input.bytes, as: UTF8.self) }

    func string(_ r: ByteRange) -> String {
        String(decoding: input.bytes[r.lowerBound..<r.upperBound], as: UTF8.self)
    }
}

/// The parts of a `.dispatch` action, or nil for any other action.
func dispatched(_ action: HTTPConnectionStateMachine.Action) -> (head: RequestHead, body: ByteRange, consumed: Int)? {
    if case .dispatch(let head, let body, let consumed) = action { return (head, body, consumed) }
    return nil
}

@Suite("HTTPConnectionStateMachine")
struct ConnectionStateMachineTests {
    static let get = "GET /first HTTP/1.1\r\nHost: h\r\n\r\n"
    static let get2 = "GET /second?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"

    // MARK: - Dispatch

    @Test func getDispatchesWithConsumedEqualToHeadLength() throws {
        let c = TestConnection()
        #expect(c.machine.phase == .idle)
        let d = try #require(dispatched(c.feed(Self.get, now: 10)))
        let length = Self.get.utf8.count
        #expect(d.consumed == length)
        #expect(d.body == ByteRange(start: length, count: 0))
        #expect(d.head.headStart == 0)
        #expect(d.head.headEnd == length)
        #expect(d.head.method == .get)
        #expect(c.string(d.head.path) == "/first")
        #expect(d.head.fieldCount == 1)
        #expect(c.string(c.fields[0].name) == "Host")
        #expect(c.machine.phase == .dispatched)
        #expect(c.input.count == length)
    }

    @Test func headArrivingInPiecesDispatchesTheSameAtEverySplit() throws {
        let text = "GET /a?b=c HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789\r\n\r\n"
        let utf8 = Array(text.utf8)
        let reference = try #require(dispatched(TestConnection().feed(text, now: 0)))
        for cut in 1..<utf8.count {
            let c = TestConnection()
            #expect(c.feed(String(decoding: utf8[..<cut], as: UTF8.self), now: 0) == .needMore, "cut \(cut)")
            #expect(c.machine.phase == .head, "cut \(cut)")
            let d = try #require(dispatched(c.feed(String(decoding: utf8[cut...], as: UTF8.self), now: 1)), "cut \(cut)")
            #expect(d.head == reference.head, "cut \(cut)")
            #expect(d.consumed == utf8.count, "cut \(cut)")
        }
        // Also one byte per read.
        let c = TestConnection()
        var last: HTTPConnectionStateMachine.Action = .needMore
        for (k, byte) in utf8.enumerated() {
            last = c.feed(String(UnicodeScalar(byte)), now: UInt64(k))
            if k < utf8.count - 1 { #expect(last == .needMore) }
        }
        #expect(dispatched(last)?.head == reference.head)
    }

    @Test func pipelinedRequestsDispatchOneAfterTheOther() throws {
        let c = TestConnection()
        let first = try #require(dispatched(c.feed(Self.get + Self.get2, now: 10)))
        #expect(first.consumed == Self.get.utf8.count)
        #expect(c.string(first.head.path) == "/first")
        // Until the response is reported, the machine does nothing more.
        #expect(c.process(now: 11) == .needMore)
        #expect(c.machine.phase == .dispatched)

        c.respond(consumed: first.consumed, now: 12)
        #expect(c.machine.requestCount == 1)
        #expect(c.machine.phase == .idle)
        #expect(c.text == Self.get2)

        let second = try #require(dispatched(c.process(now: 13)))
        #expect(second.consumed == Self.get2.utf8.count)
        #expect(c.string(second.head.path) == "/second")
        #expect(c.string(second.head.query) == "x=1")
        c.respond(consumed: second.consumed, now: 14)
        #expect(c.machine.requestCount == 2)
        #expect(c.input.count == 0)
    }

    @Test func leadingEmptyLinesAreSkipped() throws {
        let c = TestConnection()
        #expect(c.feed("\r\n", now: 1) == .needMore)
        #expect(c.machine.phase == .idle)
        #expect(c.feed("\r", now: 2) == .needMore)
        #expect(c.machine.phase == .idle)
        #expect(c.feed("\n\r\n", now: 3) == .needMore)
        #expect(c.machine.phase == .idle)
        let d = try #require(dispatched(c.feed(Self.get, now: 4)))
        #expect(d.head.headStart == 6)
        #expect(d.head.methodRange.lowerBound == 6)
        #expect(c.string(d.head.path) == "/first")
        // The empty lines are consumed with the request.
        #expect(d.consumed == 6 + Self.get.utf8.count)
        #expect(d.head.headEnd == d.consumed)
    }

    @Test func bareLFIsRejectedWith400() {
        let c = TestConnection()
        #expect(c.feed("GET / HTTP/1.1\nHost: h\r\n\r\n", now: 0) == .reject(.badRequest))
        #expect(c.machine.phase == .closed)
        // A bare LF arriving in a later read is caught too.
        let d = TestConnection()
        #expect(d.feed("GET / HTTP/1.1\r\nHost: h", now: 0) == .needMore)
        #expect(d.feed("\n\r\n", now: 1) == .reject(.badRequest))
        // A bare LF as an "empty line" before the request is not skipped.
        #expect(TestConnection().feed("\n" + Self.get, now: 0) == .reject(.badRequest))
    }

    @Test func parseErrorsAreRejectedWithTheParserStatus() {
        #expect(TestConnection().feed("GET / HTTP/2.0\r\nHost: h\r\n\r\n", now: 0) == .reject(.versionNotSupported))
        #expect(TestConnection().feed("GET / HTTP/1.1\r\n\r\n", now: 0) == .reject(.badRequest))
        #expect(TestConnection().feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", now: 0)
                == .reject(.notImplemented))
    }

    // MARK: - Bodies

    @Test func contentLengthBodyInTwoPieces() throws {
        let head = "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"
        let headLength = head.utf8.count
        let c = TestConnection()
        #expect(c.feed(head + "hello", now: 5) == .needMore)
        #expect(c.machine.phase == .body)
        let d = try #require(dispatched(c.feed(" world", now: 6)))
        #expect(d.body == ByteRange(start: headLength, count: 11))
        #expect(c.string(d.body) == "hello world")
        #expect(d.consumed == headLength + 11)
        #expect(d.head.framing == .contentLength(11))
    }

    @Test func contentLengthBodyLeavesPipelinedBytesAfterIt() throws {
        let head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"
        let c = TestConnection()
        let d = try #require(dispatched(c.feed(head + "abc" + Self.get, now: 0)))
        #expect(c.string(d.body) == "abc")
        #expect(d.consumed == head.utf8.count + 3)
        c.respond(consumed: d.consumed, now: 1)
        let next = try #require(dispatched(c.process(now: 2)))
        #expect(c.string(next.head.path) == "/first")
    }

    @Test func chunkedBodyIsDecodedInPlace() throws {
        let head = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        let headLength = head.utf8.count
        let encoded = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
        let c = TestConnection()
        let d = try #require(dispatched(c.feed(head + encoded + Self.get2, now: 0)))
        // The decoded body sits right after the head, contiguous.
        #expect(d.body == ByteRange(start: headLength, count: 11))
        #expect(c.string(d.body) == "hello world")
        #expect(d.consumed == headLength + 11)
        // The buffer shrank by the framing bytes, and the pipelined request follows the body.
        #expect(c.input.count == headLength + 11 + Self.get2.utf8.count)
        #expect(c.text == head + "hello world" + Self.get2)
        #expect(d.head.framing == .chunked)

        c.respond(consumed: d.consumed, now: 1)
        #expect(c.text == Self.get2)
        let next = try #require(dispatched(c.process(now: 2)))
        #expect(c.string(next.head.path) == "/second")
        #expect(next.consumed == Self.get2.utf8.count)
    }

    @Test func chunkedBodyArrivingInPiecesShrinksTheBufferAsItGoes() throws {
        let head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        let headLength = head.utf8.count
        let c = TestConnection()
        #expect(c.feed(head + "5\r\nhel", now: 0) == .needMore)
        #expect(c.machine.phase == .body)
        // Only decoded bytes stay: the size line is gone.
        #expect(c.input.count == headLength + 3)
        #expect(c.text == head + "hel")
        #expect(c.feed("lo\r\n1", now: 1) == .needMore)
        #expect(c.text == head + "hello")
        #expect(c.feed("0\r\n0123456789abcdef\r", now: 2) == .needMore)
        #expect(c.text == head + "hello0123456789abcdef")
        #expect(c.feed("\n0\r\n", now: 3) == .needMore)
        let d = try #require(dispatched(c.feed("\r\nGET", now: 4)))
        #expect(c.string(d.body) == "hello0123456789abcdef")
        #expect(d.consumed == headLength + 21)
        #expect(c.text == head + "hello0123456789abcdef" + "GET")
    }

    @Test func invalidChunkedBodyIsRejected() {
        let head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(TestConnection().feed(head + "zz\r\n", now: 0) == .reject(.badRequest))
        let c = TestConnection(limits: HTTPLimits(maxBodyBytes: 4))
        #expect(c.feed(head + "5\r\nhello\r\n0\r\n\r\n", now: 0) == .reject(.contentTooLarge))
        #expect(c.machine.phase == .closed)
    }

    @Test func expect100ContinueSendsContinueOnceThenDispatches() throws {
        let head = "PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        let c = TestConnection()
        #expect(c.feed(head, now: 0) == .sendContinue)
        #expect(c.machine.phase == .body)
        #expect(c.process(now: 1) == .needMore)
        #expect(c.feed("ab", now: 2) == .needMore)
        let d = try #require(dispatched(c.feed("cd", now: 3)))
        #expect(c.string(d.body) == "abcd")
        #expect(d.head.expectContinue)
    }

    @Test func expect100ContinueWithTheBodyAlreadyHereDispatchesWithoutContinue() throws {
        let head = "PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        let d = try #require(dispatched(TestConnection().feed(head + "abcd", now: 0)))
        #expect(d.body.count == 4)
    }

    @Test func expect100ContinueWithChunkedBody() throws {
        let head = "PUT /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        let c = TestConnection()
        #expect(c.feed(head, now: 0) == .sendContinue)
        #expect(c.feed("2\r\nok\r\n", now: 1) == .needMore)
        let d = try #require(dispatched(c.feed("0\r\n\r\n", now: 2)))
        #expect(c.string(d.body) == "ok")
    }

    @Test func continueIsOfferedAgainForTheNextRequest() throws {
        let head = "PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n"
        let c = TestConnection()
        #expect(c.feed(head, now: 0) == .sendContinue)
        let d = try #require(dispatched(c.feed("x", now: 1)))
        c.respond(consumed: d.consumed, now: 2)
        #expect(c.feed(head, now: 3) == .sendContinue)
    }

    @Test func contentLengthOverTheLimitIs413WithoutWaitingForTheBody() {
        let c = TestConnection(limits: HTTPLimits(maxBodyBytes: 10))
        #expect(c.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", now: 0) == .reject(.contentTooLarge))
        #expect(c.machine.phase == .closed)
        // Even with Expect: 100-continue: no Continue is offered for a body that is too large.
        let e = TestConnection(limits: HTTPLimits(maxBodyBytes: 10))
        #expect(e.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n", now: 0)
                == .reject(.contentTooLarge))
        // At the limit is fine.
        let ok = TestConnection(limits: HTTPLimits(maxBodyBytes: 10))
        #expect(ok.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n", now: 0) == .needMore)
    }

    // MARK: - Limits while the head is incomplete

    @Test func overlongRequestLineIsRejectedBeforeItEnds() {
        let c = TestConnection(limits: HTTPLimits(maxTargetBytes: 64))
        #expect(c.feed("GET /" + String(repeating: "a", count: 90), now: 0) == .needMore)
        #expect(c.feed(String(repeating: "a", count: 10), now: 1) == .reject(.uriTooLong))
    }

    @Test func overlongIncompleteHeadIsRejectedWith431() {
        let limits = HTTPLimits(maxHeaderBytes: 100, maxTargetBytes: 50)
        let c = TestConnection(limits: limits)
        #expect(c.feed("GET / HTTP/1.1\r\nHost: h\r\n", now: 0) == .needMore)
        // 50 + 100 + 64 = 214 bytes buffered is the most an incomplete head may take.
        let filler = "X: " + String(repeating: "v", count: 300)
        #expect(c.feed(filler, now: 1) == .reject(.headerFieldsTooLarge))
    }

    // MARK: - Timeouts

    @Test func firstRequestUsesHeaderTimeoutWhileIdle() {
        var m = HTTPConnectionStateMachine(timeouts: TestConnection.timeouts, now: 100)
        #expect((m.deadline ?? .max) == 100 + 1_000)
        // The keep-alive timeout (300) does not apply to a fresh connection.
        #expect(m.expire(now: 100 + 300) == .none)
        #expect(m.expire(now: 100 + 999) == .none)
        #expect(m.phase == .idle)
        // Nothing was received, so it just closes (no 408).
        #expect(m.expire(now: 100 + 1_000) == .close)
        #expect(m.phase == .closed)
        #expect(m.deadline == nil)
    }

    @Test func headerTimeoutRunsFromTheFirstByteAndIsNotExtendedBySlowDrip() throws {
        let c = TestConnection(now: 0)
        // A first request, answered, so the next head starts from an idle keep-alive connection.
        let d = try #require(dispatched(c.feed(Self.get, now: 10)))
        c.respond(consumed: d.consumed, now: 20)
        #expect(c.feed("G", now: 100) == .needMore)
        #expect(c.machine.phase == .head)
        #expect((c.machine.deadline ?? .max) == 100 + 1_000)
        // One byte every 50 ns for most of the allowance: the deadline does not move.
        var t: UInt64 = 100
        for byte in "ET /slow HTTP/1.1\r\nHost: h\r\nX-Drip: ".utf8.prefix(19) {
            t += 50
            #expect(c.feed(String(UnicodeScalar(byte)), now: t) == .needMore)
            #expect((c.machine.deadline ?? .max) == 1_100)
            #expect(c.machine.expire(now: t) == .none)
        }
        #expect(c.machine.expire(now: 1_099) == .none)
        #expect(c.machine.expire(now: 1_100) == .reject(.requestTimeout))
        #expect(c.machine.phase == .closed)
    }

    @Test func laterRequestHeaderTimeoutRunsFromItsFirstByte() throws {
        let c = TestConnection(now: 0)
        let d = try #require(dispatched(c.feed(Self.get, now: 10)))
        c.respond(consumed: d.consumed, now: 20)
        #expect(c.feed("GET / HT", now: 200) == .needMore)
        #expect((c.machine.deadline ?? .max) == 200 + 1_000)
        #expect(c.feed("TP/1.1\r\n", now: 900) == .needMore)
        #expect((c.machine.deadline ?? .max) == 1_200)
        #expect(c.machine.expire(now: 1_199) == .none)
        #expect(c.machine.expire(now: 1_200) == .reject(.requestTimeout))
    }

    @Test func firstRequestHeaderTimeoutRunsFromConnectionStart() {
        let c = TestConnection(now: 0)
        #expect(c.feed("GET / HT", now: 900) == .needMore)
        #expect((c.machine.deadline ?? .max) == 1_000)
        #expect(c.machine.expire(now: 1_000) == .reject(.requestTimeout))
    }

    @Test func idleKeepAliveClosesAfterKeepAliveTimeout() throws {
        let c = TestConnection(now: 0)
        let d = try #require(dispatched(c.feed(Self.get, now: 10)))
        c.respond(consumed: d.consumed, now: 1_000)
        #expect(c.machine.phase == .idle)
        #expect((c.machine.deadline ?? .max) == 1_000 + 300)
        #expect(c.machine.expire(now: 1_299) == .none)
        #expect(c.machine.expire(now: 1_300) == .close)
        #expect(c.machine.phase == .closed)
    }

    @Test func emptyLinesDoNotRestartTheIdleTimer() throws {
        let c = TestConnection(now: 0)
        let d = try #require(dispatched(c.feed(Self.get, now: 10)))
        c.respond(consumed: d.consumed, now: 1_000)
        #expect(c.feed("\r\n", now: 1_200) == .needMore)
        #expect((c.machine.deadline ?? .max) == 1_300)
        #expect(c.machine.expire(now: 1_300) == .close)
    }

    @Test func deadlineIsNilWhileDispatched() throws {
        let c = TestConnection(now: 0)
        _ = try #require(dispatched(c.feed(Self.get, now: 10)))
        #expect(c.machine.deadline == nil)
        #expect(c.machine.expire(now: .max) == .none)
        #expect(c.machine.phase == .dispatched)
    }

    @Test func bodyTimeoutIsAnIdleTimerRestartedByEachRead() {
        let c = TestConnection(now: 0)
        #expect(c.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab", now: 100) == .needMore)
        #expect(c.machine.phase == .body)
        #expect((c.machine.deadline ?? .max) == 100 + 700)
        #expect(c.feed("cd", now: 600) == .needMore)
        #expect((c.machine.deadline ?? .max) == 600 + 700)
        #expect(c.machine.expire(now: 1_299) == .none)
        #expect(c.machine.expire(now: 1_300) == .reject(.requestTimeout))
        #expect(c.machine.phase == .closed)
    }

    @Test func respondedWithoutKeepAliveCloses() throws {
        let c = TestConnection(now: 0)
        let d = try #require(dispatched(c.feed(Self.get + Self.get2, now: 1)))
        c.respond(consumed: d.consumed, keepAlive: false, now: 2)
        #expect(c.machine.phase == .closed)
        #expect(c.machine.requestCount == 1)
        #expect(c.machine.deadline == nil)
        #expect(c.process(now: 3) == .needMore)
    }

    @Test func afterARejectTheMachineIsClosedAndReadsNothing() {
        let c = TestConnection(now: 0)
        #expect(c.feed("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", now: 1) == .reject(.badRequest))
        #expect(c.machine.phase == .closed)
        #expect(c.machine.deadline == nil)
        #expect(c.machine.expire(now: .max) == .none)
        c.input.count = 0
        #expect(c.feed(Self.get, now: 2) == .needMore)
        #expect(c.machine.phase == .closed)
        #expect(c.input.count == Self.get.utf8.count)
    }

    @Test func closeEndsTheTestConnection() {
        var m = HTTPConnectionStateMachine(now: 0)
        m.close()
        #expect(m.phase == .closed)
        #expect(m.deadline == nil)
        #expect(m.expire(now: .max) == .none)
    }

    @Test
    func leadingEmptyLinesAreBounded() {
        let limits = HTTPLimits(maxHeaderBytes: 1024, maxTargetBytes: 1024)
        let c = TestConnection(limits: limits)
        var action: HTTPConnectionStateMachine.Action = .needMore
        let hundredEmptyLines = String(repeating: "\r\n", count: 100)
        for k in 0..<200 where action == .needMore {
            action = c.feed(hundredEmptyLines, now: UInt64(k))
        }
        // Some bound on empty lines (or on bytes buffered before a request-line) must apply.
        #expect(action != .needMore)
    }
}
