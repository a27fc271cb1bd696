import Foundation
import HTTP1
import Testing
import Web
import WebTesting

/// The in-process harness: the same handlers, turned on the test's own thread.
@Suite struct TestHarnessTests {
    func application() -> Application<NoMiddleware> {
        var router = Router()
        router.get("/now") { _, response in response.respond(.ok, body: "now\n") }
        router.get("/later") { _ async throws -> Response in
            try await Task.sleep(for: .milliseconds(20))
            return .text("later\n")
        }
        router.get("/parts") { _ async -> Response in
            .stream { body in for i in 0..<3 { try await body.write("\(i)") } }
        }
        router.get("/never") { _ async throws -> Response in
            try await Task.sleep(for: .seconds(60))
            return .text("late\n")
        }
        return Application(router: router)
    }

    @Test func syncAsyncAndStreamedAnswersComeBackInOrder() throws {
        let harness = try TestHarness(application())
        #expect(try harness.respond(to: "GET /now HTTP/1.1\r\nHost: t\r\n\r\n").text == "now\n")
        #expect(try harness.respond(to: "GET /later HTTP/1.1\r\nHost: t\r\n\r\n").text == "later\n")
        let parts = try harness.respond(to: "GET /parts HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(parts.header("Transfer-Encoding") == "chunked" && parts.text == "012")
        try harness.client.send("GET /later HTTP/1.1\r\nHost: t\r\n\r\nGET /now HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(harness.nextResponse()?.text == "later\n")
        #expect(harness.nextResponse()?.text == "now\n")
        #expect(try harness.respond(to: "GET /x HTTP/1.1\r\nHost: t\r\n\r\n").status == 404)
    }

    @Test func aHandlerPastItsDeadlineIs504InProcessToo() throws {
        let harness = try TestHarness(application()) { $0.handlerTimeoutNanoseconds = 100_000_000 }
        let r = try harness.respond(to: "GET /never HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 504)
    }

    @Test func malformedInputGetsTheServersOwnAnswer() throws {
        let harness = try TestHarness(application())
        #expect(try harness.respond(to: "GET /now HTTP/1.1\r\n\r\n").status == 400, "no Host")
    }
}
