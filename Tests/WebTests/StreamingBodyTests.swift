import Foundation
import HTTP1
import Testing
import Web
import WebTesting

@Suite(.serialized) struct StreamingBodyTests {
    let cut = Counter()

    func application() -> Application<NoMiddleware> {
        var router = Router()
        let cut = self.cut
        // Counts and sums the body as it comes; the largest part shows what was held at once.
        router.streamingBody(.post, "/count") { _, body async throws -> Response in
            var total = 0, sum = 0, largest = 0
            do {
                for try await part in body {
                    total += part.count
                    largest = max(largest, part.count)
                    for b in part { sum = (sum &+ Int(b)) & 0xFFFF_FFFF }
                }
            } catch {
                cut.increment()
                throw error
            }
            return .text("\(total) \(sum) \(largest)")
        }
        router.streamingBody(.post, "/slow") { _, body async throws -> Response in
            var total = 0
            for try await part in body {
                total += part.count
                try await Task.sleep(for: .milliseconds(1))
            }
            return .text("\(total)")
        }
        router.streamingBody(.post, "/small") { _, body async throws -> Response in
            .text("\(try await body.collect(upTo: 10).count)")
        }
        router.post("/buffered") { request, response in response.respond(.ok, text: "\(request.body.count)") }
        router.get("/now") { _, response in response.respond(.ok, body: "now\n") }
        return Application(router: router)
    }

    static func post(_ path: String, length: Int) -> String {
        "POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Length: \(length)\r\n\r\n"
    }

    @Test func aBodyFarAboveTheBufferedLimitIsReadInBoundedParts() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let size = 32 << 20
        let body = [UInt8]((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let expectedSum = body.reduce(0) { ($0 &+ Int($1)) & 0xFFFF_FFFF }
        let c = try TestClient(port: server.port)
        try c.send(Array(Self.post("/count", length: size).utf8) + body)
        let r = try #require(c.readResponse())
        let fields = r.text.split(separator: " ").compactMap { Int($0) }
        #expect(fields.count == 3 && fields[0] == size && fields[1] == expectedSum, "\(r.text)")
        // A part is what the input held when it was parsed: bounded by the read-ahead (64 KiB)
        // plus what one turn's completed reads can bring (the 128 provided buffers of 8 KiB),
        // never the body's 32 MiB.
        #expect(fields.count == 3 && fields[2] <= 64 * 1024 + 128 * 8 * 1024, "parts stay bounded: \(r.text)")
        // The same body to a route that buffers is refused, as before.
        let buffered = try TestClient(port: server.port)
        try buffered.send(Self.post("/buffered", length: size))
        #expect(buffered.readResponse()?.status == 413)
    }

    @Test func aChunkedBodyStreamsAndThePipelinedRequestAfterItIsAnswered() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        try c.send("POST /count HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        usleep(20_000)
        try c.send("6\r\n world\r\n0\r\n\r\nGET /now HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try #require(c.readResponse())
        #expect(r.text.hasPrefix("11 "), "\(r.text)")
        #expect(c.readResponse()?.text == "now\n")
    }

    @Test func aSlowReaderStillGetsEveryByte() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let size = 4 << 20
        let c = try TestClient(port: server.port)
        try c.send(Array(Self.post("/slow", length: size).utf8) + [UInt8](repeating: 1, count: size))
        #expect(c.readResponse()?.text == "\(size)")
    }

    @Test func aClientThatLeavesMidBodyCutsItForTheHandler() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        do {
            let c = try TestClient(port: server.port)
            try c.send(Array(Self.post("/count", length: 1000).utf8) + [UInt8](repeating: 2, count: 100))
            usleep(50_000)
        }
        #expect(cut.wait(for: 1) == 1)
        #expect(try fetch(server.port, "GET /now HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
    }

    @Test func anAnswerBeforeTheBodyEndsClosesTheConnectionAfterIt() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        try c.send(Array(Self.post("/small", length: 5000).utf8) + [UInt8](repeating: 3, count: 5000))
        let r = try #require(c.readResponse())
        #expect(r.status == 413)
        #expect(c.isClosedByServer(), "what is left of the body cannot be told from a next request")
    }
}
