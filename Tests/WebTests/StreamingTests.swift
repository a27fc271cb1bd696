import Foundation
import HTTP1
import Testing
import Web
import WebTesting

struct Boom: Error {}

@Suite(.serialized) struct StreamingTests {
    let produced = Counter()
    let stopped = Counter()

    func application() -> Application<NoMiddleware> {
        var router = Router()
        let produced = self.produced, stopped = self.stopped
        router.get("/parts/{n}") { request async -> Response in
            let n = request.parameter("n", as: Int.self) ?? 0
            return .stream(contentType: "text/plain") { body in
                for i in 0..<n {
                    try await body.write("part \(i)\n")
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
        }
        router.get("/known") { _ async -> Response in
            .stream(contentLength: 10) { body in
                try await body.write("01234")
                try await body.write("56789")
            }
        }
        router.get("/short") { _ async -> Response in
            .stream(contentLength: 10) { body in try await body.write("0123") }
        }
        router.get("/fails") { _ async -> Response in
            .stream { body in
                try await body.write("begun")
                throw Boom()
            }
        }
        // 64 MiB in 64 KiB parts: far more than any bound, so the producer must wait.
        router.get("/big") { _ async -> Response in
            .stream { body in
                let part = [UInt8](repeating: UInt8(ascii: "z"), count: 65536)
                do {
                    for _ in 0..<1024 {
                        try await body.write(part)
                        produced.increment()
                    }
                } catch {
                    stopped.increment()
                    throw error
                }
            }
        }
        router.get("/now") { _, response in response.respond(.ok, body: "now\n") }
        return Application(router: router)
    }

    @Test func aChunkedStreamArrivesWholeAndWhatFollowsWaitsForIt() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        try c.send("GET /parts/20 HTTP/1.1\r\nHost: t\r\n\r\nGET /now HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try #require(c.readResponse())
        #expect(r.header("Transfer-Encoding") == "chunked")
        #expect(r.header("Content-Length") == nil)
        #expect(r.text == (0..<20).map { "part \($0)\n" }.joined())
        #expect(c.readResponse()?.text == "now\n", "the pipelined request after it, on the same connection")
    }

    @Test func aStreamOfKnownLengthHasContentLength() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let r = try fetch(server.port, "GET /known HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.header("Content-Length") == "10")
        #expect(r.header("Transfer-Encoding") == nil)
        #expect(r.text == "0123456789")
        let head = try fetch(server.port, "HEAD /known HTTP/1.1\r\nHost: t\r\n\r\n", isHead: true)
        #expect(head.status == 200 && head.header("Content-Length") == "10" && head.body.isEmpty)
    }

    @Test func anHTTP10ClientGetsTheBodyDelimitedByTheClose() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        try c.send("GET /parts/3 HTTP/1.0\r\n\r\n")
        let r = try #require(c.readResponse())
        #expect(r.header("Transfer-Encoding") == nil && r.header("Content-Length") == nil)
        #expect(r.text == "part 0\npart 1\npart 2\n")
        #expect(c.isClosedByServer())
    }

    @Test func aBodyThatCannotBeFinishedClosesTheConnection() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        for path in ["/short", "/fails"] {
            let c = try TestClient(port: server.port)
            try c.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(c.readResponse() == nil, "\(path): the client sees an incomplete body, never a complete wrong one")
        }
        #expect(try fetch(server.port, "GET /now HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
    }

    @Test func theProducerWaitsForASlowClientAndStopsWhenItLeaves() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        do {
            let c = try TestClient(port: server.port)
            try c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            // The client reads nothing: the producer gets as far as the bounds let it.
            var last = -1
            for _ in 0..<100 where produced.count != last {
                last = produced.count
                usleep(50_000)
            }
            #expect(produced.count < 1024, "the producer waits: \(produced.count) of 1024 parts written while nothing was read")
        }  // the client leaves
        #expect(stopped.wait(for: 1) == 1, "the waiting producer is told the connection is gone")
    }

    @Test func aSlowButSteadyClientGetsEveryByte() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        try c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try #require(c.readResponse())
        #expect(r.body.count == 64 << 20)
        #expect(r.body.allSatisfy { $0 == UInt8(ascii: "z") })
    }
}
