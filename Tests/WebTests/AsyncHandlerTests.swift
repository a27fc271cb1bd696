import Foundation
import HTTP1
import HTTPServer
import Synchronization
import Testing
import Web
import WebTesting

/// Counts events from any thread.
final class Counter: Sendable {
    let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .sequentiallyConsistent) }
    var count: Int { value.load(ordering: .sequentiallyConsistent) }

    /// Waits until the count reaches `target` (bounded: 10 s); returns the count.
    func wait(for target: Int) -> Int {
        for _ in 0..<1000 where count < target { usleep(10_000) }
        return count
    }
}

func get(_ path: String, close: Bool = false) -> String {
    "GET \(path) HTTP/1.1\r\nHost: t\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n"
}

func threadID() -> String { String(UInt(pthread_self())) }

/// Work done on a thread of its own, as a database driver's or a thread pool's would be.
func onAnotherThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

struct Note: Codable, Sendable { var text: String }

@Suite(.serialized) struct AsyncHandlerTests {
    let cancelled = Counter()
    let started = Counter()

    func application() -> Application<NoMiddleware> {
        var router = Router()
        let cancelled = self.cancelled, started = self.started
        router.get("/loop") { _, response in response.respond(.ok, text: threadID()) }
        router.get("/sleep/{ms}") { request async throws -> Response in
            let before = threadID()
            try await Task.sleep(for: .milliseconds(request.parameter("ms", as: Int.self) ?? 1))
            return .text("\(before) \(threadID())")
        }
        router.get("/elsewhere/{n}") { request async -> Response in
            let before = threadID()
            let n = request.parameter("n", as: Int.self) ?? 0
            let worker = await onAnotherThread { (threadID(), n * 2) }
            return .text("\(before) \(threadID()) \(worker.0) \(worker.1)")
        }
        router.get("/hang") { _ async -> Response in
            started.increment()
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                cancelled.increment()
            }
            return .text("late")
        }
        router.post("/notes") { request async throws -> Response in
            let note = try request.decode(Note.self)
            guard !note.text.isEmpty else { throw HTTPError(.unprocessableContent, "text is empty") }
            return try Response.json(note, status: .created).header("Location", "/notes/1")
        }
        router.get("/fails") { _ async throws -> Response in throw CocoaError(.fileNoSuchFile) }
        router.get("/split") { request async throws -> Response in
            try Response.text("x").header("X-Echo", request.query("v") ?? "")
        }
        return Application(router: router)
    }

    @Test func anAsyncHandlerAwaitsOnTheLoopsThreadAndComesBackToIt() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        try c.send(get("/loop"))
        let loop = try #require(c.readResponse()).text
        try c.send(get("/sleep/5"))
        let r = try #require(c.readResponse())
        #expect(r.status == 200)
        #expect(r.text == "\(loop) \(loop)", "before and after the await, on the loop's thread")
    }

    @Test func workFinishedOnAnotherThreadWakesTheRing() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        try c.send(get("/loop"))
        let loop = try #require(c.readResponse()).text
        // Many at once, from many connections: the wakes coalesce, and none is lost.
        let clients = try (0..<20).map { _ in try TestClient(port: server.port) }
        for (i, client) in clients.enumerated() { try client.send(get("/elsewhere/\(i)")) }
        for (i, client) in clients.enumerated() {
            let r = try #require(client.readResponse(), "response \(i)")
            let parts = r.text.split(separator: " ").map(String.init)
            #expect(parts.count == 4 && parts[0] == loop && parts[1] == loop && parts[2] != loop && parts[3] == "\(i * 2)", "\(r.text)")
        }
    }

    @Test func pipelinedRequestsBehindAnAsyncOneAreAnsweredInOrder() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        // /split's handler is async but never suspends: answered within its own call.
        try c.send(get("/sleep/30") + get("/split?v=1") + get("/loop") + get("/elsewhere/3") + get("/split?v=2") + get("/loop"))
        let answers = (0..<6).compactMap { _ in c.readResponse()?.text.split(separator: " ").count }
        #expect(answers == [2, 1, 1, 4, 1, 1], "each response where its request was")
    }

    @Test func aHandlerPastItsDeadlineGets504AndItsTaskIsCancelled() throws {
        let server = try LiveServer(application()) { $0.handlerTimeoutNanoseconds = 200_000_000 }
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        try c.send(get("/hang"))
        let r = try #require(c.readResponse())
        #expect(r.status == 504)
        #expect(cancelled.wait(for: 1) == 1, "the handler's task sees its cancellation")
        #expect(c.isClosedByServer())
    }

    @Test func aClientThatLeavesCancelsItsHandler() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        do {
            let c = try TestClient(port: server.port)
            try c.send(get("/hang"))
            #expect(started.wait(for: 1) == 1)
        }  // closed here
        #expect(cancelled.wait(for: 1) == 1)
        // The server goes on serving.
        #expect(try fetch(server.port, get("/loop")).status == 200)
    }

    @Test func errorsAndTypedBodiesBecomeTheirResponses() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        func post(_ body: String) throws -> TestResponse {
            try fetch(server.port, "POST /notes HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        }
        let created = try post(#"{"text":"hi"}"#)
        #expect(created.status == 201)
        #expect(created.header("Location") == "/notes/1")
        #expect(created.header("Content-Type") == "application/json")
        #expect(created.text == #"{"text":"hi"}"#)
        let bad = try post("{nope")
        #expect(bad.status == 400)
        #expect(bad.header("Content-Type") == "application/json")
        #expect(bad.text.hasPrefix(#"{"error":"#))
        #expect(try post(#"{"text":""}"#).status == 422)
        let failed = try fetch(server.port, get("/fails"))
        #expect(failed.status == 500)
        #expect(!failed.text.contains("NoSuchFile"), "an unexpected error's text stays on the server")
        let split = try fetch(server.port, get("/split?v=a%0D%0ASet-Cookie:%20x"))
        #expect(split.status == 500 && split.header("Set-Cookie") == nil, "a value with CR LF is refused, not sent")
    }

    @Test func unknownPathsAndMethodsAre404And405WithAllow() throws {
        let server = try LiveServer(application())
        defer { server.stop() }
        #expect(try fetch(server.port, get("/nowhere")).status == 404)
        let r = try fetch(server.port, "DELETE /notes HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 405)
        #expect(r.header("Allow") == "POST")
        let head = try fetch(server.port, "HEAD /loop HTTP/1.1\r\nHost: t\r\n\r\n", isHead: true)
        #expect(head.status == 200 && head.body.isEmpty)
    }

    @Test func aDrainWaitsForAPendingHandler() throws {
        let server = try LiveServer(application())
        let c = try TestClient(port: server.port)
        try c.send(get("/sleep/200"))
        usleep(50_000)
        let drained = Thread { server.drain() }
        drained.start()
        let r = try #require(c.readResponse())
        #expect(r.status == 200)
        #expect(r.header("Connection") == "close", "answered, then closed by the drain")
        server.drain()
    }
}
