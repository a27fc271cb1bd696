import Testing

/// RFC 9112 strictness over the wire: each malformed request gets its exact status, the
/// connection is closed after the response, and a valid request pipelined behind it is
/// never processed.
@Suite struct StrictnessTests {
    static let cases: [(String, String, Int)] = [
        ("garbage request line", "HELLO\r\n\r\n", 400),
        ("missing Host on 1.1", "GET / HTTP/1.1\r\n\r\n", 400),
        ("invalid Host value", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        ("too many empty lines before the request", String(repeating: "\r\n", count: 40) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n", 400),
        ("bare CR", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
        ("bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
        ("NUL in value", "GET / HTTP/1.1\r\nHost: a\u{0}b\r\n\r\n", 400),
        ("control byte in value", "GET / HTTP/1.1\r\nHost: a\u{1}b\r\n\r\n", 400),
        ("invalid Content-Length", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400),
        ("conflicting Content-Length", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        ("TE final coding not chunked", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("unknown coding", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: zstd, chunked\r\n\r\n0\r\n\r\n", 501),
        ("CL with TE", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("chunk size not hex", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("chunk size overflow", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400),
        ("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("HTTP/0.9 style version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
        ("unsupported expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417),
        ("asterisk-form without OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("CONNECT to an origin server", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501),
        ("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
        ("empty Host with whitespace", "GET / HTTP/1.1\r\nHost:   \r\n\r\n", 400),
        ("bare ; in a chunk extension", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;\r\nx\r\n0\r\n\r\n", 400),
        ("chunk extension name not a token", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a@b\r\nx\r\n0\r\n\r\n", 400),
        ("whitespace after the chunk size", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n", 400),
        ("over-long method", String(repeating: "M", count: 40) + " / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        ("over-long method never ending", String(repeating: "M", count: 20_000), 501),
    ]

    @Test(arguments: cases.indices)
    func malformedRequestIsRejectedAndClosed(_ index: Int) throws {
        let (name, request, status) = Self.cases[index]
        let server = try ServerProcess([])
        let c = try TestConnection(port: server.port)
        try c.send(request + "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let r = try #require(c.readResponse(), "\(name): no response")
        #expect(r.status == status, "\(name)")
        #expect(r.header("connection") == "close", "\(name)")
        #expect(c.isClosedByServer(), "\(name): the request after the bad one was answered")
    }
}
