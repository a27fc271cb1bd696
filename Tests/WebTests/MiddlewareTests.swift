import Foundation
import HTTP1
import Logging
import Synchronization
import Testing
import Web
import WebTesting

/// Lines a Logger was given.
final class CapturedLog: Sendable {
    let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    func logger() -> Logger {
        var logger = Logger(label: "test") { _ in Handler(log: self) }
        logger.logLevel = .info
        return logger
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { log.lines.withLock { $0.append("\(event.message)") } }
    }
}

/// Records the order its hooks run in, by name.
struct Recording: Middleware {
    let name: String
    let trace: CapturedLog
    func receive(_ request: HTTPRequest, _ response: inout ResponseWriter) -> Bool {
        trace.lines.withLock { $0.append("receive \(name)") }
        return false
    }
    func completed(_ request: CompletedRequest) {
        trace.lines.withLock { $0.append("completed \(name) \(request.status)") }
    }
}

struct RequireKey: Middleware {
    func receive(_ request: HTTPRequest, _ response: inout ResponseWriter) -> Bool {
        guard request.header("x-key") != "open" else { return false }
        response.respond(.unauthorized, body: "a key is needed\n")
        return true
    }
}

@Suite(.serialized) struct MiddlewareTests {
    let routeCalls = Counter()

    func router() -> Router {
        var router = Router()
        let calls = routeCalls
        router.get("/sync") { _, response in
            calls.increment()
            response.respond(.ok, body: "sync\n")
        }
        router.get("/async") { _ async throws -> Response in
            calls.increment()
            try await Task.sleep(for: .milliseconds(2))
            return .text("async\n")
        }
        router.get("/streamed") { _ async -> Response in
            .stream { body in
                try await body.write("abc")
                try await body.write("de")
            }
        }
        return router
    }

    @Test func corsAnswersAPreflightAndMarksAnswersForAnyOrigin() throws {
        let server = try LiveServer(Application(router: router(), middleware: CORS()))
        defer { server.stop() }
        let simple = try fetch(server.port, "GET /sync HTTP/1.1\r\nHost: t\r\nOrigin: https://a.example\r\n\r\n")
        #expect(simple.header("Access-Control-Allow-Origin") == "*")
        let later = try fetch(server.port, "GET /async HTTP/1.1\r\nHost: t\r\nOrigin: https://a.example\r\n\r\n")
        #expect(later.text == "async\n")
        #expect(later.header("Access-Control-Allow-Origin") == "*", "an async route's answer too")
        let none = try fetch(server.port, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(none.header("Access-Control-Allow-Origin") == nil, "no Origin, no CORS")
        let preflight = try fetch(server.port, "OPTIONS /sync HTTP/1.1\r\nHost: t\r\nOrigin: https://a.example\r\n"
                                  + "Access-Control-Request-Method: POST\r\n\r\n")
        #expect(preflight.status == 204, "answered before the router's 405")
        #expect(preflight.header("Access-Control-Allow-Methods") == "GET, HEAD, POST, PUT, PATCH, DELETE")
        #expect(preflight.header("Access-Control-Max-Age") == "600")
    }

    @Test func corsForListedOriginsEchoesTheOriginAndIgnoresOthers() throws {
        let cors = CORS(origins: .only(["https://a.example", "https://b.example"]), credentials: true)
        let server = try LiveServer(Application(router: router(), middleware: cors))
        defer { server.stop() }
        let b = try fetch(server.port, "GET /sync HTTP/1.1\r\nHost: t\r\nOrigin: https://b.example\r\n\r\n")
        #expect(b.header("Access-Control-Allow-Origin") == "https://b.example")
        #expect(b.header("Vary") == "Origin")
        #expect(b.header("Access-Control-Allow-Credentials") == "true")
        let other = try fetch(server.port, "GET /sync HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n\r\n")
        #expect(other.status == 200 && other.header("Access-Control-Allow-Origin") == nil)
        let preflight = try fetch(server.port, "OPTIONS /sync HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n"
                                  + "Access-Control-Request-Method: POST\r\n\r\n")
        #expect(preflight.status == 405, "a preflight from elsewhere is the router's to answer")
    }

    @Test func theRequestLogHasOneLinePerAnswerSyncAndAsync() throws {
        let log = CapturedLog()
        let server = try LiveServer(Application(router: router(), middleware: RequestLog(log.logger())))
        defer { server.stop() }
        _ = try fetch(server.port, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n")
        _ = try fetch(server.port, "GET /async HTTP/1.1\r\nHost: t\r\n\r\n")
        _ = try fetch(server.port, "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n")
        _ = try fetch(server.port, "GET /streamed HTTP/1.1\r\nHost: t\r\n\r\n")
        for _ in 0..<200 where log.all.count < 4 { usleep(10_000) }
        let lines = log.all
        #expect(lines.count == 4, "\(lines)")
        #expect(lines.dropFirst(3).first?.hasPrefix("GET /streamed 200 5B ") == true, "a streamed body's bytes: \(lines)")
        #expect(lines.first?.hasPrefix("GET /sync 200 5B ") == true, "\(lines)")
        #expect(lines.dropFirst().first?.hasPrefix("GET /async 200 6B ") == true, "\(lines)")
        #expect(lines.dropFirst(2).first?.hasPrefix("GET /missing 404 10B ") == true, "\(lines)")
    }

    /// A request whose handler overran its deadline reached no log line before.
    @Test func anAbandonedHandlerIsLoggedToo() throws {
        let log = CapturedLog()
        var router = Router()
        router.get("/hang") { _ async throws -> Response in
            try await Task.sleep(for: .seconds(60))
            return .text("late")
        }
        let server = try LiveServer(Application(router: router, middleware: RequestLog(log.logger()))) {
            $0.handlerTimeoutNanoseconds = 100_000_000
        }
        defer { server.stop() }
        #expect(try fetch(server.port, "GET /hang HTTP/1.1\r\nHost: t\r\n\r\n").status == 504)
        for _ in 0..<200 where log.all.isEmpty { usleep(10_000) }
        #expect(log.all.first?.hasPrefix("GET /hang abandoned 0B ") == true, "\(log.all)")
    }

    @Test func aMiddlewareThatAnswersStopsTheRequestAndChainsRunInOrder() throws {
        let trace = CapturedLog()
        let chain = Recording(name: "outer", trace: trace).then(RequireKey()).then(Recording(name: "inner", trace: trace))
        let server = try LiveServer(Application(router: router(), middleware: chain))
        defer { server.stop() }
        let refused = try fetch(server.port, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(refused.status == 401)
        #expect(routeCalls.count == 0, "the route never ran")
        #expect(trace.all == ["receive outer", "completed inner 401", "completed outer 401"])
        let open = try fetch(server.port, "GET /async HTTP/1.1\r\nHost: t\r\nX-Key: open\r\n\r\n")
        #expect(open.status == 200 && routeCalls.count == 1)
        #expect(Array(trace.all.suffix(4)) == ["receive outer", "receive inner", "completed inner 200", "completed outer 200"])
    }
}
