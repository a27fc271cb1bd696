import Foundation
import Testing

/// HTTP/1.1 as clients use it: keep-alive, 1.0, pipelining, chunked bodies, 100-continue.
@Suite struct ProtocolTests {
    @Test func keepAliveServesManyRequestsOnOneConnection() throws {
        let server = try ServerProcess([])
        let c = try TestConnection(port: server.port)
        for i in 0..<20 {
            try c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(String(i).count)\r\n\r\n\(i)")
            let r = try #require(c.readResponse())
            #expect(r.text == String(i))
            #expect(r.header("connection") == nil)
        }
    }

    @Test func connectionCloseIsHonoured() throws {
        let server = try ServerProcess([])
        let c = try TestConnection(port: server.port)
        try c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let r = try #require(c.readResponse())
        #expect(r.header("connection") == "close")
        #expect(c.isClosedByServer())
    }

    @Test func http10ClosesUnlessKeepAliveIsAsked() throws {
        let server = try ServerProcess([])
        let plain = try TestConnection(port: server.port)
        try plain.send("GET / HTTP/1.0\r\n\r\n")
        #expect(plain.readResponse()?.header("connection") == "close")
        #expect(plain.isClosedByServer())

        let kept = try TestConnection(port: server.port)
        for _ in 0..<3 {
            try kept.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let r = try #require(kept.readResponse())
            #expect(r.status == 200)
            #expect(r.header("connection") == "keep-alive")
        }
    }

    /// Pipelined requests are answered in order, even when the first one is slow.
    @Test func pipelinedResponsesComeInRequestOrder() throws {
        let server = try ServerProcess([])
        let c = try TestConnection(port: server.port)
        try c.send("GET /delay?ms=200 HTTP/1.1\r\nHost: t\r\n\r\n"
            + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst"
            + "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
            + "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n"
            + "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        #expect(c.readResponse()?.text == "delayed\n")
        #expect(c.readResponse()?.text == "first")
        #expect(c.readResponse()?.status == 404)
        #expect(c.readResponse()?.text == "second")
        #expect(c.readResponse()?.text == "hello world\n")
        #expect(c.isClosedByServer())
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() throws {
        let server = try ServerProcess([])
        let c = try TestConnection(port: server.port)
        try c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        try c.send("5;name=value\r\nhello\r\n")
        try c.send("1\r\n \r\n6\r\nchunks\r\n0\r\nX-Checksum: 42\r\nX-Other: y\r\n\r\n")
        let r = try #require(c.readResponse())
        #expect(r.status == 200)
        #expect(r.text == "hello chunks")
    }

    @Test func expectContinueGets100BeforeTheBody() throws {
        let server = try ServerProcess([])
        let c = try TestConnection(port: server.port)
        try c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = try #require(c.readResponse())
        #expect(interim.status == 100)
        try c.send("data")
        let r = try #require(c.readResponse())
        #expect(r.status == 200)
        #expect(r.text == "data")
    }

    @Test func clientHalfCloseStillGetsItsResponse() throws {
        let server = try ServerProcess([])
        let c = try TestConnection(port: server.port)
        try c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        c.shutdownWrite()
        #expect(c.readResponse()?.status == 200)
        #expect(c.readResponse()?.status == 404)
        #expect(c.isClosedByServer())
    }

    /// Many connections open at once, each with several keep-alive requests in flight.
    @Test func manyConcurrentConnections() throws {
        let server = try ServerProcess([])
        let connections = try (0..<300).map { _ in try TestConnection(port: server.port) }
        for round in 0..<3 {
            for c in connections { try c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n\(round)") }
            for c in connections { #expect(c.readResponse()?.text == String(round)) }
        }
        let stats = try clusterStats(server.port)
        #expect(stats.workers.map(\.active).reduce(0, +) == 301)
        #expect(stats.workers.map(\.requests).reduce(0, +) == 900)
    }
}
