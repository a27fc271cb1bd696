import Testing
@testable import HTTP1

@Suite("HeadParser")
struct HeadParserTests {

    // MARK: - Well-formed requests

    @Test func normalGetParsesEveryField() throws {
        let text = "GET /hello HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n"
        let p = parseHead(text)
        let head = try #require(p.head)
        #expect(head.method == .get)
        #expect(p.string(head.methodRange) == "GET")
        #expect(p.string(head.target) == "/hello")
        #expect(p.string(head.path) == "/hello")
        #expect(head.query.count == 0)
        #expect(head.minorVersion == 1)
        #expect(head.framing == .none)
        #expect(head.keepAlive)
        #expect(!head.expectContinue)
        #expect(head.headStart == 0)
        #expect(head.headEnd == text.utf8.count)
        #expect(head.fieldCount == 3)
        let fields = p.fieldStrings
        #expect(fields.map(\.0) == ["Host", "User-Agent", "Accept"])
        #expect(fields.map(\.1) == ["example.com", "curl/8.0", "*/*"])
    }

    @Test func methodTargetPathAndQueryRanges() throws {
        let text = requestHead("PATCH /a/b?x=1&y=?2 HTTP/1.1")
        let p = parseHead(text)
        let head = try #require(p.head)
        #expect(head.method == .patch)
        #expect(head.methodRange == ByteRange(start: 0, count: 5))
        #expect(p.string(head.methodRange) == "PATCH")
        #expect(head.target == ByteRange(start: 6, count: 13))
        #expect(p.string(head.target) == "/a/b?x=1&y=?2")
        // The path ends at the first '?', the query is everything after it.
        #expect(head.path == ByteRange(start: 6, count: 4))
        #expect(p.string(head.path) == "/a/b")
        #expect(head.query == ByteRange(start: 11, count: 8))
        #expect(p.string(head.query) == "x=1&y=?2")
    }

    @Test func targetWithoutQueryHasPathEqualToTargetAndEmptyQuery() throws {
        let p = parseHead(requestHead("GET /just/a/path HTTP/1.1"))
        let head = try #require(p.head)
        #expect(head.path == head.target)
        #expect(head.query.count == 0)
        // A bare '?' gives an empty path-plus-empty-query split, not a missing query.
        let q = parseHead(requestHead("GET /p? HTTP/1.1"))
        let qhead = try #require(q.head)
        #expect(q.string(qhead.path) == "/p")
        #expect(qhead.query.count == 0)
        #expect(qhead.query.lowerBound == 7)
    }

    @Test(arguments: [
        ("GET", HTTPMethod.get), ("HEAD", .head), ("POST", .post), ("PUT", .put), ("DELETE", .delete),
        ("OPTIONS", .options), ("PATCH", .patch), ("TRACE", .trace),
        ("BREW", .other), ("get", .other), ("GETX", .other), ("M-SEARCH", .other),
    ])
    func methodTokenMapsToMethod(_ token: String, _ expected: HTTPMethod) throws {
        let p = parseHead(requestHead("\(token) / HTTP/1.1"))
        let head = try #require(p.head)
        #expect(head.method == expected)
        #expect(p.string(head.methodRange) == token)
    }

    @Test func rangesAreAbsoluteWhenTheHeadStartsInsideTheBuffer() throws {
        let prefix = "JUNKJUNK"
        let text = prefix + requestHead("GET /x?y=1 HTTP/1.1", ["X-A: b"])
        let p = parseHead(bytes(text), start: prefix.utf8.count)
        let head = try #require(p.head)
        #expect(head.headStart == 8)
        #expect(head.headEnd == text.utf8.count)
        #expect(head.methodRange.lowerBound == 8)
        #expect(p.string(head.target) == "/x?y=1")
        #expect(p.string(head.query) == "y=1")
        #expect(p.fieldStrings.last?.0 == "X-A")
        #expect(p.fieldStrings.last?.1 == "b")
    }

    @Test func fieldValuesAreTrimmedOfSurroundingWhitespaceOnly() throws {
        let p = parseHead(requestHead(["X-A: \t a  b \t ", "X-Empty:", "X-Tight:v"]))
        #expect(p.head != nil)
        let fields = p.fieldStrings
        #expect(fields.count == 4)
        #expect(fields[1] == ("X-A", "a  b"))
        #expect(fields[2] == ("X-Empty", ""))
        #expect(fields[3] == ("X-Tight", "v"))
    }

    @Test func htabAndObsTextAreAllowedInFieldValues() throws {
        var b = bytes("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb")
        b += [0x80, 0xC3, 0xA9, 0xFF]
        b += bytes("\r\n\r\n")
        let p = parseHead(b)
        let head = try #require(p.head)
        let value = p.fields[1].value
        #expect(Array(b[value.lowerBound..<value.upperBound]) == [0x61, 0x09, 0x62, 0x80, 0xC3, 0xA9, 0xFF])
        #expect(head.fieldCount == 2)
    }

    // MARK: - Keep-alive defaults

    @Test(arguments: [
        // HTTP/1.1 stays open unless `close` is among the Connection tokens.
        ("HTTP/1.1", [String](), true),
        ("HTTP/1.1", ["Connection: close"], false),
        ("HTTP/1.1", ["Connection: CLOSE"], false),
        ("HTTP/1.1", ["Connection: Upgrade, Close"], false),
        ("HTTP/1.1", ["Connection: keep-alive"], true),
        ("HTTP/1.1", ["Connection: closed"], true),
        ("HTTP/1.1", ["Connection: foo", "connection: close"], false),
        // HTTP/1.0 closes unless `keep-alive` is among them (and `close` is not).
        ("HTTP/1.0", [String](), false),
        ("HTTP/1.0", ["Connection: keep-alive"], true),
        ("HTTP/1.0", ["Connection: Keep-Alive"], true),
        ("HTTP/1.0", ["Connection: foo ,\tkeep-alive , bar"], true),
        ("HTTP/1.0", ["Connection: keep-alive, close"], false),
        ("HTTP/1.0", ["Connection: keep-alive-please"], false),
        ("HTTP/1.0", ["Connection: foo", "CONNECTION: KEEP-ALIVE"], true),
    ])
    func keepAliveFollowsVersionDefaultsAndConnectionTokens(_ version: String, _ lines: [String], _ expected: Bool) throws {
        let p = parseHead(requestHead("GET / \(version)", lines))
        let head = try #require(p.head)
        #expect(head.keepAlive == expected)
        #expect(head.minorVersion == (version == "HTTP/1.0" ? 0 : 1))
    }

    // MARK: - Request line (400)

    @Test(arguments: [
        "GET/ HTTP/1.1",          // no space after the method
        "GET  / HTTP/1.1",        // empty target
        " GET / HTTP/1.1",        // empty method
        "G(T / HTTP/1.1",         // a non-token byte in the method
        "GET / HTTP/1.1 ",        // trailing space
        "GET / http/1.1",         // lowercase protocol name
        "GET / HTTP/1.",          // truncated version
        "GET / HTTP/1.1x",        // junk after the version
        "GET / HTTP/1.10",        // two-digit minor
        "GET / HTTP/11.1",        // two-digit major
        "GET / HTTP/A.1",         // non-digit major
        "GET /a b HTTP/1.1",      // space inside the target
        "GET /\u{7F} HTTP/1.1",   // DEL in the target
        "GET /caf\u{E9} HTTP/1.1", // non-ASCII in the target
        "GET /\t HTTP/1.1",       // HTAB in the target
        "GET /",                  // no version at all
        "GET",                    // method only
    ])
    func unparsableRequestLineIs400(_ line: String) {
        #expect(parseHead(requestHead(line)).status == 400)
    }

    @Test func emptyFieldNameOrNonTokenNameIs400() {
        #expect(parseHead(requestHead([": value"])).status == 400)
        #expect(parseHead(requestHead(["X(A): value"])).status == 400)
        #expect(parseHead(requestHead(["X-A value"])).status == 400)
    }

    // MARK: - Host

    @Test func missingHostOnHTTP11Is400() {
        #expect(parseHead(requestHead("GET / HTTP/1.1", host: false)).status == 400)
        #expect(parseHead(requestHead("GET / HTTP/1.1", host: false, ["X-Host: a"])).status == 400)
    }

    @Test func missingHostOnHTTP10IsAccepted() throws {
        let head = try #require(parseHead(requestHead("GET / HTTP/1.0", host: false)).head)
        #expect(head.minorVersion == 0)
        #expect(head.fieldCount == 0)
    }

    // An empty Host is rejected: HeadParserFormTests.anEmptyHostIs400.

    @Test func invalidHostValueIs400() {
        for bad in ["a b", "a/b", "a@b", "a?b", "a#b", "a\"b"] {
            #expect(parseHead("GET / HTTP/1.1\r\nHost: \(bad)\r\n\r\n").status == 400, "\(bad)")
        }
        for good in ["example.com", "example.com:8080", "127.0.0.1:80", "[::1]:8000", "xn--bcher-kva.example", "a%20b"] {
            #expect(parseHead("GET / HTTP/1.1\r\nHost: \(good)\r\n\r\n").head != nil, "\(good)")
        }
    }

    @Test func duplicateHostIs400() {
        #expect(parseHead(requestHead(["Host: example.com"])).status == 400)
        #expect(parseHead(requestHead(["host: other.example"])).status == 400)
        #expect(parseHead(requestHead("GET / HTTP/1.0", ["HOST: b"])).status == 400)
    }

    // MARK: - Field syntax (400)

    @Test func whitespaceBetweenFieldNameAndColonIs400() {
        #expect(parseHead(requestHead(["X-A : b"])).status == 400)
        #expect(parseHead(requestHead(["X-A\t: b"])).status == 400)
        #expect(parseHead("GET / HTTP/1.1\r\nHost : example.com\r\n\r\n").status == 400)
    }

    @Test func obsFoldIs400() {
        #expect(parseHead(requestHead(["X-A: first", " continued"])).status == 400)
        #expect(parseHead(requestHead(["X-A: first", "\tcontinued"])).status == 400)
        // A line of whitespace right after the request line is a fold too.
        #expect(parseHead("GET / HTTP/1.1\r\n Host: a\r\n\r\n").status == 400)
    }

    @Test func bareCRInAFieldValueIs400() {
        #expect(parseHead(requestHead(["X-A: a\rb"])).status == 400)
        #expect(parseHead(requestHead(["X-A: ab\r"])).status == 400)
        #expect(parseHead(requestHead(["X-A\r: b"])).status == 400)
        // A CR must not swallow the byte after it: here that would hide a second field.
        #expect(parseHead(requestHead(["X-A: a\rX-B: b"])).status == 400)
    }

    @Test func bareLFIsFoundByFindEnd() {
        func search(_ text: String) -> HeadParser.EndSearch {
            bytes(text).withUnsafeBytes { HeadParser.findEnd($0, start: 0, from: 0) }
        }
        #expect(search("GET / HTTP/1.1\nHost: a\r\n\r\n") == .bareLF)
        #expect(search("GET / HTTP/1.1\r\nHost: a\n\r\n") == .bareLF)
        #expect(search("GET / HTTP/1.1\r\nHost: a\r\n\n") == .bareLF)
        #expect(search("\nGET / HTTP/1.1\r\n\r\n") == .bareLF)
        #expect(search("GET / HTTP/1.1\r\nX: a\nb\r\n\r\n") == .bareLF)
    }

    @Test func findEndLocatesTheBlankLineAndResumes() {
        let text = requestHead() + "BODY"
        let headLength = requestHead().utf8.count
        let b = bytes(text)
        b.withUnsafeBytes { raw in
            #expect(HeadParser.findEnd(raw, start: 0, from: 0) == .found(end: headLength))
            // Resuming anywhere before the end finds the same blank line.
            for from in 0..<headLength {
                #expect(HeadParser.findEnd(raw, start: 0, from: from) == .found(end: headLength))
            }
        }
        // An incomplete head asks to resume one byte back, so a trailing CR is seen with its LF.
        let partial = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r")
        partial.withUnsafeBytes { raw in
            #expect(HeadParser.findEnd(raw, start: 0, from: 0) == .notYet(resumeAt: partial.count - 1))
        }
        bytes("").withUnsafeBytes { raw in
            #expect(HeadParser.findEnd(raw, start: 0, from: 0) == .notYet(resumeAt: 0))
        }
    }

    @Test(arguments: [UInt8(0x00), 0x01, 0x07, 0x08, 0x0B, 0x0C, 0x0E, 0x1B, 0x1F, 0x7F])
    func controlBytesInAFieldValueAre400(_ control: UInt8) {
        var b = bytes("GET / HTTP/1.1\r\nHost: h\r\nX-A: ab")
        b.append(control)
        b += bytes("cd\r\n\r\n")
        #expect(parseHead(b).status == 400)
        // Also as the very first value byte.
        var first = bytes("GET / HTTP/1.1\r\nHost: h\r\nX-A: ")
        first.append(control)
        first += bytes("\r\n\r\n")
        #expect(parseHead(first).status == 400)
    }

    @Test func lfInsideAValueIsRejectedByParseEvenWithoutFindEnd() {
        // parse on its own (given an end the caller computed) must also refuse a LF in a value.
        let b = bytes("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\nb\r\n\r\n")
        var table = [HeaderField](repeating: HeaderField(name: .empty, value: .empty), count: 8)
        let result = b.withUnsafeBytes { raw in
            table.withUnsafeMutableBufferPointer {
                HeadParser.parse(raw, start: 0, end: raw.count, limits: HTTPLimits(), fields: $0)
            }
        }
        #expect(result == .invalid(.badRequest))
    }

    // MARK: - Content-Length

    @Test(arguments: [
        "abc", "-1", "+5", "1 2", "0x10", "5,", ",5", "5,,5", "", "1.0",
        "1234567890123456789",       // 19 digits
        "99999999999999999999",      // 20 digits, over Int64
        "0000000000000000000",       // 19 digits even though the value is 0
    ])
    func invalidContentLengthIs400(_ value: String) {
        #expect(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: \(value)"])).status == 400)
    }

    @Test func eighteenDigitContentLengthIsAccepted() throws {
        let head = try #require(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 999999999999999999"])).head)
        #expect(head.framing == .contentLength(999_999_999_999_999_999))
    }

    @Test func contentLengthSetsFramingAndZeroMeansNoBody() throws {
        let five = try #require(parseHead(requestHead("POST / HTTP/1.1", ["content-length: 5"])).head)
        #expect(five.framing == .contentLength(5))
        let zero = try #require(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 0"])).head)
        #expect(zero.framing == .none)
        let leadingZeros = try #require(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 007"])).head)
        #expect(leadingZeros.framing == .contentLength(7))
    }

    @Test func conflictingContentLengthsAre400() {
        #expect(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 5, 6"])).status == 400)
        #expect(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 5", "Content-Length: 6"])).status == 400)
        #expect(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 5", "Content-Length: 5, 7"])).status == 400)
    }

    @Test func identicalDuplicateContentLengthsAreAcceptedAsOne() throws {
        let list = try #require(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 5, 5"])).head)
        #expect(list.framing == .contentLength(5))
        let twoFields = try #require(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 5", "content-length: 5"])).head)
        #expect(twoFields.framing == .contentLength(5))
        let spaced = try #require(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 5 ,\t5 , 5"])).head)
        #expect(spaced.framing == .contentLength(5))
    }

    // MARK: - Transfer-Encoding

    @Test(arguments: ["chunked", "Chunked", "CHUNKED", " chunked "])
    func chunkedTransferEncodingSetsChunkedFraming(_ value: String) throws {
        let head = try #require(parseHead(requestHead("POST / HTTP/1.1", ["Transfer-Encoding: \(value)"])).head)
        #expect(head.framing == .chunked)
    }

    @Test(arguments: [
        ["Transfer-Encoding: gzip"],
        ["Transfer-Encoding: chunked, gzip"],
        ["Transfer-Encoding: chunked, chunked"],
        ["Transfer-Encoding: chunked;foo=bar"],
        ["Transfer-Encoding: chunked;foo=bar, chunked"],  // chunked takes no parameters: malformed, not just unsupported
        ["Transfer-Encoding: "],
        ["Transfer-Encoding: ,chunked"],
        ["Transfer-Encoding: chunked", "Transfer-Encoding: gzip"],
        ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
    ])
    func transferEncodingWhoseFinalCodingIsNotChunkedIs400(_ lines: [String]) {
        #expect(parseHead(requestHead("POST / HTTP/1.1", lines)).status == 400)
    }

    @Test(arguments: [
        ["Transfer-Encoding: gzip, chunked"],
        ["Transfer-Encoding: deflate, chunked"],
        ["Transfer-Encoding: GZIP,Chunked"],
        ["Transfer-Encoding: x-custom;q=1, chunked"],
        ["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"],
    ])
    func unsupportedCodingBeforeChunkedIs501(_ lines: [String]) {
        #expect(parseHead(requestHead("POST / HTTP/1.1", lines)).status == 501)
    }

    @Test func contentLengthWithTransferEncodingIs400() {
        #expect(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 5", "Transfer-Encoding: chunked"])).status == 400)
        #expect(parseHead(requestHead("POST / HTTP/1.1", ["Transfer-Encoding: chunked", "Content-Length: 5"])).status == 400)
        #expect(parseHead(requestHead("POST / HTTP/1.1", ["Transfer-Encoding: chunked", "Content-Length: 0"])).status == 400)
    }

    @Test func transferEncodingOnHTTP10Is400() {
        #expect(parseHead(requestHead("POST / HTTP/1.0", ["Transfer-Encoding: chunked"])).status == 400)
        #expect(parseHead(requestHead("POST / HTTP/1.0", host: false, ["Transfer-Encoding: chunked"])).status == 400)
    }

    // MARK: - Versions

    @Test(arguments: ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9"])
    func versionsOtherThanMajorOneAre505(_ version: String) {
        #expect(parseHead(requestHead("GET / \(version)")).status == 505)
    }

    @Test(arguments: ["HTTP/1.2", "HTTP/1.9"])
    func higherMinorVersionsAreTreatedAsHTTP11(_ version: String) throws {
        let head = try #require(parseHead(requestHead("GET / \(version)")).head)
        #expect(head.minorVersion == 1)
        #expect(head.keepAlive)
        // ... including the HTTP/1.1 rules: Host is required.
        #expect(parseHead(requestHead("GET / \(version)", host: false)).status == 400)
    }

    // MARK: - Limits

    @Test func targetOverMaxTargetBytesIs414() throws {
        let limits = HTTPLimits(maxTargetBytes: 16)
        let exact = "/" + String(repeating: "a", count: 15)
        #expect(parseHead(requestHead("GET \(exact) HTTP/1.1"), limits: limits).head != nil)
        let over = exact + "b"
        #expect(parseHead(requestHead("GET \(over) HTTP/1.1"), limits: limits).status == 414)
        #expect(parseHead(requestHead("GET /\(String(repeating: "x", count: 9000)) HTTP/1.1")).status == 414)
    }

    @Test func tooManyHeaderFieldsIs431() {
        let limits = HTTPLimits(maxHeaderCount: 3)
        #expect(parseHead(requestHead(["A: 1", "B: 2"]), limits: limits).head?.fieldCount == 3)
        #expect(parseHead(requestHead(["A: 1", "B: 2", "C: 3"]), limits: limits).status == 431)
        // The caller's field table is a limit too.
        #expect(parseHead(requestHead(["A: 1", "B: 2"]), fieldCapacity: 2).status == 431)
        // Defaults: 100 fields pass, 101 do not.
        let ninetyNine = (1...99).map { "X-\($0): v" }
        #expect(parseHead(requestHead(ninetyNine)).head?.fieldCount == 100)
        #expect(parseHead(requestHead(ninetyNine + ["X-100: v"])).status == 431)
    }

    @Test func headerSectionOverMaxHeaderBytesIs431() {
        let limits = HTTPLimits(maxHeaderBytes: 64)
        // The header section counted is every field line with its CRLF (not the request line).
        func head(sectionBytes: Int) -> String {
            let host = "Host: h\r\n"  // 9 bytes
            let fillerValue = String(repeating: "v", count: sectionBytes - host.utf8.count - "X: \r\n".utf8.count)
            return "GET / HTTP/1.1\r\n" + host + "X: " + fillerValue + "\r\n\r\n"
        }
        #expect(parseHead(head(sectionBytes: 64), limits: limits).head != nil)
        #expect(parseHead(head(sectionBytes: 65), limits: limits).status == 431)
        // Many small lines cross the limit too.
        let many = (0..<20).map { "X\($0): v" }
        #expect(parseHead(requestHead(many), limits: limits).status == 431)
        // A single huge value over the default 16 KiB.
        #expect(parseHead(requestHead(["X: " + String(repeating: "v", count: 17 * 1024)])).status == 431)
    }

    // MARK: - Expect

    @Test(arguments: ["foo", "100-continue, foo", "101-continue", "100-continuex", ""])
    func expectOtherThan100ContinueIs417(_ value: String) {
        #expect(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 5", "Expect: \(value)"])).status == 417)
    }

    @Test func expect100ContinueIsRecordedOnlyWhenThereIsABody() throws {
        let withBody = try #require(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 5", "Expect: 100-Continue"])).head)
        #expect(withBody.expectContinue)
        let chunked = try #require(parseHead(requestHead("POST / HTTP/1.1", ["Transfer-Encoding: chunked", "expect: 100-continue"])).head)
        #expect(chunked.expectContinue)
        let noBody = try #require(parseHead(requestHead("GET / HTTP/1.1", ["Expect: 100-continue"])).head)
        #expect(!noBody.expectContinue)
        let zero = try #require(parseHead(requestHead("POST / HTTP/1.1", ["Content-Length: 0", "Expect: 100-continue"])).head)
        #expect(!zero.expectContinue)
    }

    @Test
    func expect100ContinueIsIgnoredOnHTTP10() throws {
        let head = try #require(parseHead(requestHead("POST / HTTP/1.0", ["Content-Length: 5", "Expect: 100-continue"])).head)
        #expect(head.minorVersion == 0)
        #expect(!head.expectContinue)
    }
}

/// RFC 9112/9110 rules about targets, methods and Host.
@Suite("HeadParser: forms and methods")
struct HeadParserFormTests {
    @Test func asteriskFormIsForOptionsOnly() {
        #expect(parseHead("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").head?.method == .options)
        #expect(parseHead("GET * HTTP/1.1\r\nHost: a\r\n\r\n").status == 400)
        #expect(parseHead("POST * HTTP/1.1\r\nHost: a\r\n\r\n").status == 400)
    }

    @Test func connectIsNotImplementedByAnOriginServer() {
        #expect(parseHead("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").status == 501)
    }

    @Test func anEmptyHostIs400() {
        #expect(parseHead("GET / HTTP/1.1\r\nHost:\r\n\r\n").status == 400)
        #expect(parseHead("GET / HTTP/1.1\r\nHost: \t \r\n\r\n").status == 400)
        #expect(parseHead("GET / HTTP/1.0\r\nHost:\r\n\r\n").status == 400)
        #expect(parseHead("GET / HTTP/1.1\r\nHost: a\r\n\r\n").head != nil)
    }

    @Test func anOverLongMethodIs501NotAnythingElse() {
        let long = String(repeating: "M", count: HeadParser.maxMethodBytes + 1)
        #expect(parseHead("\(long) / HTTP/1.1\r\nHost: a\r\n\r\n").status == 501)
        let longest = String(repeating: "M", count: HeadParser.maxMethodBytes)
        #expect(parseHead("\(longest) / HTTP/1.1\r\nHost: a\r\n\r\n").head?.method == .other)
    }
}

@Suite("HTTPConnectionStateMachine: method length")
struct MethodLengthTests {
    /// A method that never ends used to be answered 414 (URI Too Long) once the buffer
    /// passed the target limit; it is 501 as soon as it passes the method limit.
    @Test func aMethodWithoutEndIs501AsSoonAsItPassesItsLimit() {
        let c = TestConnection()
        #expect(c.feed(String(repeating: "M", count: HeadParser.maxMethodBytes), now: 0) == .needMore)
        #expect(c.feed("M", now: 0) == .reject(.notImplemented))
    }

    @Test func aLongTargetIsStill414() {
        let c = TestConnection(limits: HTTPLimits(maxTargetBytes: 64))
        #expect(c.feed("GET /" + String(repeating: "a", count: 200), now: 0) == .reject(.uriTooLong))
    }
}
