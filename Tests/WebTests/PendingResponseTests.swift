import Foundation
import HTTP1
import HTTPServer
import Synchronization
import Testing
import Web
import WebTesting

/// A raw handler that parks one request's ticket and answers it from another connection's
/// handler call, answering its own ticket in that same call first.
struct Parking: HTTPHandler, Sendable {
    final class Parked: @unchecked Sendable {
        var ticket: PendingResponse?
    }
    let parked = Parked()

    mutating func handle(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome {
        if request.pathIs("/park") {
            parked.ticket = context.pendingResponse
            return .pending()
        }
        if request.pathIs("/release") {
            let own = context.pendingResponse!
            own.respond { $0.respond(.ok, body: "released\n") }
            // Answering the parked request lets its connection's next request be dispatched,
            // from inside this call.
            parked.ticket?.respond { $0.respond(.ok, body: "parked\n") }
            parked.ticket = nil
            return .pending()
        }
        response.respond(.ok, body: "now\n")
        return .done
    }
}

@Suite(.serialized) struct PendingResponseTests {
    @Test func anAnswerGivenFromInsideAnotherHandlersCallKeepsBothConnectionsApart() throws {
        let server = try LiveServer(Parking())
        defer { server.stop() }
        let b = try TestClient(port: server.port)
        try b.send("GET /park HTTP/1.1\r\nHost: t\r\n\r\nGET /now HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(50_000)
        let a = try TestClient(port: server.port)
        try a.send("GET /release HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(a.readResponse()?.text == "released\n")
        #expect(b.readResponse()?.text == "parked\n")
        #expect(b.readResponse()?.text == "now\n")
    }

    @Test func aStreamed204CarriesNoBodyAndTheNextResponseFollowsIntact() throws {
        var router = Router()
        router.get("/nothing") { _ async -> Response in
            .stream(status: .noContent) { body in try await body.write("ignored") }
        }
        router.get("/now") { _, response in response.respond(.ok, body: "now\n") }
        let server = try LiveServer(Application(router: router))
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        try c.send("GET /nothing HTTP/1.1\r\nHost: t\r\n\r\nGET /now HTTP/1.1\r\nHost: t\r\n\r\n")
        let first = try #require(c.readResponse())
        #expect(first.status == 204 && first.header("Transfer-Encoding") == nil && first.header("Content-Length") == nil)
        #expect(c.readResponse()?.text == "now\n", "no stray chunk between them")
    }

    @Test func stoppingTheLoopCancelsTheHandlersItWasAwaiting() throws {
        let started = Counter(), cancelled = Counter()
        var router = Router()
        router.get("/hang") { _ async -> Response in
            started.increment()
            do { try await Task.sleep(for: .seconds(60)) } catch { cancelled.increment() }
            return .text("late")
        }
        let server = try LiveServer(Application(router: router))
        let c = try TestClient(port: server.port)
        try c.send("GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(started.wait(for: 1) == 1)
        server.stop()
        #expect(cancelled.wait(for: 1) == 1)
    }
}
