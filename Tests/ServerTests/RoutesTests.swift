import Foundation
import Testing

/// The routes of `uring-cluster serve`, over real loopback sockets.
@Suite struct RoutesTests {
    @Test func helloWorldIsByteForByte() throws {
        let server = try ServerProcess([])
        let r = try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 200)
        #expect(r.body == Array("hello world\n".utf8))
        #expect(r.header("content-length") == "12")
        #expect(r.header("content-type") == "text/plain")
        // IMF-fixdate: "Wed, 25 Nov 2026 17:32:06 GMT"
        let date = try #require(r.header("date"))
        #expect(date.count == 29 && date.hasSuffix(" GMT"))
    }

    @Test func headHasHeadersButNoBody() throws {
        let server = try ServerProcess([])
        let c = try TestConnection(port: server.port)
        try c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try #require(c.readResponse(isHead: true))
        #expect(head.status == 200)
        #expect(head.header("content-length") == "12")
        #expect(head.body.isEmpty)
        // The next response starts right after the head: no body bytes were sent for HEAD.
        let get = try #require(c.readResponse())
        #expect(get.text == "hello world\n")
    }

    @Test func echoReturnsTheBody() throws {
        let server = try ServerProcess([])
        let payload = String(repeating: "0123456789", count: 5000)  // 50 KB, more than one read
        let r = try fetch(server.port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(payload.utf8.count)\r\n\r\n\(payload)")
        #expect(r.status == 200)
        #expect(r.text == payload)
    }

    /// RFC 9110 §9.3.7: OPTIONS * asks about the server, OPTIONS /path about the path.
    @Test func optionsAnswersWithAllow() throws {
        let server = try ServerProcess([])
        let star = try fetch(server.port, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(star.status == 200)
        #expect(star.header("allow") == "GET, HEAD, POST, OPTIONS")
        #expect(star.body.isEmpty)
        let echo = try fetch(server.port, "OPTIONS /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(echo.status == 200)
        #expect(echo.header("allow") == "POST, OPTIONS")
        #expect(try fetch(server.port, "OPTIONS / HTTP/1.1\r\nHost: t\r\n\r\n").header("allow") == "GET, HEAD, OPTIONS")
        #expect(try fetch(server.port, "OPTIONS /nope HTTP/1.1\r\nHost: t\r\n\r\n").status == 404)
    }

    @Test func unknownPathIs404AndWrongMethodIs405() throws {
        let server = try ServerProcess([])
        #expect(try fetch(server.port, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n").status == 404)
        let r = try fetch(server.port, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 405)
        #expect(r.header("allow") == "POST")
        #expect(try fetch(server.port, "DELETE / HTTP/1.1\r\nHost: t\r\n\r\n").status == 405)
    }

    @Test func burnAndBadQueries() throws {
        let server = try ServerProcess([])
        #expect(try fetch(server.port, "GET /burn?us=2000 HTTP/1.1\r\nHost: t\r\n\r\n").text == "burned\n")
        #expect(try fetch(server.port, "GET /burn?us=abc HTTP/1.1\r\nHost: t\r\n\r\n").status == 400)
        #expect(try fetch(server.port, "GET /delay HTTP/1.1\r\nHost: t\r\n\r\n").status == 400)
        #expect(try fetch(server.port, "GET /delay?ms=999999 HTTP/1.1\r\nHost: t\r\n\r\n").status == 400)
    }

    /// A delayed response holds up neither the loop nor other connections.
    @Test func delayDoesNotBlockOtherConnections() throws {
        let server = try ServerProcess([])
        let slow = try TestConnection(port: server.port)
        try slow.send("GET /delay?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        let fast = try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(fast.status == 200)
        #expect(!slow.hasDataWaiting(), "the delayed response came before the fast one finished")
        let delayed = try #require(slow.readResponse())
        #expect(delayed.status == 200)
        #expect(delayed.text == "delayed\n")
    }

    /// One process serving alone (`--workers 0`): /stats is its own counters.
    @Test func statsAgreeWithWhatWasSent() throws {
        let server = try ServerProcess(["--workers", "0"])
        let c = try TestConnection(port: server.port)
        for _ in 0..<5 {
            try c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(c.readResponse()?.status == 200)
        }
        _ = try fetch(server.port, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        let stats = try fetch(server.port, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(stats.header("content-type") == "application/json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(stats.body)) as? [String: Any])
        let workers = try #require(json["workers"] as? [[String: Any]])
        #expect(workers.count == 1)
        let w = workers[0]
        #expect(w["id"] as? Int == 0)
        #expect(w["pid"] as? Int == Int(server.process.processIdentifier))
        // 6 answered before this one; this request is counted after it is answered.
        #expect(w["requests"] as? Int == 6)
        #expect(w["connections"] as? Int == 3)
        // The keep-alive connection `c` and the one asking are open.
        #expect(w["active"] as? Int == 2)
    }
}
