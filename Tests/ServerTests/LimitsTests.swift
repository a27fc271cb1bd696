import Foundation
import Testing

/// Size limits and timeouts, with small configured values.
@Suite struct LimitsTests {
    @Test func headerSectionOverLimitIs431() throws {
        let server = try ServerProcess(["--max-header-bytes", "1024"])
        let big = String(repeating: "x", count: 2000)
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: \(big)\r\n\r\n").status == 431)
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\nX-Ok: \(big.prefix(500))\r\n\r\n").status == 200)
    }

    @Test func defaultHeaderLimitIs16KiB() throws {
        let server = try ServerProcess([])
        let big = String(repeating: "y", count: 17 * 1024)
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: \(big)\r\n\r\n").status == 431)
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: \(big.prefix(15 * 1024))\r\n\r\n").status == 200)
    }

    @Test func longTargetIs414() throws {
        let server = try ServerProcess(["--max-target-bytes", "100"])
        let path = "/" + String(repeating: "a", count: 200)
        #expect(try fetch(server.port, "GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n").status == 414)
        // Sent without its end, the target is refused as soon as it is too long.
        let c = try TestConnection(port: server.port)
        try c.send("GET /" + String(repeating: "b", count: 300))
        #expect(c.readResponse()?.status == 414)
    }

    @Test func tooManyHeadersIs431() throws {
        let server = try ServerProcess(["--max-headers", "10"])
        let fields = (0..<11).map { "X-\($0): v\r\n" }.joined()
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\n\(fields)\r\n").status == 431)
        let fewer = (0..<9).map { "X-\($0): v\r\n" }.joined()
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\n\(fewer)\r\n").status == 200)
    }

    @Test func bodyOverLimitIs413() throws {
        let server = try ServerProcess(["--max-body-bytes", "1000"])
        // Refused from the header alone: the client is not made to send the body.
        #expect(try fetch(server.port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n").status == 413)
        let chunk = String(repeating: "z", count: 600)
        let chunked = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n0\r\n\r\n"
        #expect(try fetch(server.port, chunked).status == 413)
        #expect(try fetch(server.port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n\(String(repeating: "k", count: 1000))").status == 200)
    }

    /// Slow-drip clients do not extend the header timeout.
    @Test func headerTimeoutIs408EvenForADrippingClient() throws {
        let server = try ServerProcess(["--header-timeout", "400ms"])
        let c = try TestConnection(port: server.port)
        let start = Date()
        var got408 = false
        // Drip one byte every 100 ms: without a fixed deadline this would last 3 s or more.
        for byte in "GET / HTTP/1.1\r\nHost: a-long-host-name-that-takes-a-while\r\n".utf8 {
            if c.hasDataWaiting() { break }
            do { try c.send([byte]) } catch { break }
            usleep(100_000)
        }
        if let r = c.readResponse() { got408 = r.status == 408 }
        #expect(got408)
        #expect(c.isClosedByServer())
        #expect(Date().timeIntervalSince(start) < 5.5, "the drip was allowed to extend the deadline")
    }

    @Test func idleKeepAliveConnectionIsClosed() throws {
        let server = try ServerProcess(["--keepalive-timeout", "300ms"])
        let c = try TestConnection(port: server.port)
        try c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(c.readResponse()?.status == 200)
        // Closed without a response once idle (the receive timeout of 10 s bounds the wait).
        #expect(c.isClosedByServer())
    }

    @Test func maxConnectionsAnswers503() throws {
        // One worker, so that both connections count against the same limit.
        let server = try ServerProcess(["--max-connections", "2", "--workers", "1"])
        let a = try TestConnection(port: server.port)
        let b = try TestConnection(port: server.port)
        try a.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        try b.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(a.readResponse()?.status == 200)
        #expect(b.readResponse()?.status == 200)
        let third = try TestConnection(port: server.port)
        #expect(third.readResponse()?.status == 503)
        #expect(third.isClosedByServer())
        // The first two still work.
        try a.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(a.readResponse()?.status == 200)
    }

    /// Receive buffers cover one loop turn's reads, not every connection: with a single
    /// 512-byte buffer, 8 connections sending 4 KiB bodies at once run it dry again and
    /// again (each receive then ends with ENOBUFS and is armed again), and every echo still
    /// comes back whole and in order.
    @Test func aSingleReceiveBufferStillServesEveryone() throws {
        let server = try ServerProcess(["--workers", "0", "--receive-buffers", "1", "--receive-buffer-size", "512"])
        let bodies = (0..<8).map { k in (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ k) } }
        let clients = try bodies.map { _ in try TestConnection(port: server.port) }
        for round in 0..<3 {
            for (c, body) in zip(clients, bodies) {
                try c.send(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            }
            for (k, c) in clients.enumerated() {
                let r = c.readResponse()
                #expect(r?.status == 200, "client \(k), round \(round)")
                #expect(r?.body == bodies[k], "client \(k), round \(round)")
            }
        }
    }
}
