// A test fixture (not an example): one primary and one worker exercising the parts of the
// cluster API that ServerTests.ClusterAPITests checks from outside. The primary prints its
// ready line on standard output and one line per event on standard error.
//
//   GET /ask?timeout_ms=N  the worker asks the primary (Ping → Pong) and answers "pong"
//   GET /unhandled         a request type the primary has no handler for        → 501
//   GET /failing           a request whose handler throws                       → 502
//   GET /where             the worker's working directory and PROBE_VAR
//   GET /message           the worker sends the primary a Codable message       → 202
//   GET /descriptor        what the worker read from the file the primary gave it
//   GET /give              the worker gives the primary a file                   → 202
//   GET /client            the client's address as the worker sees it (host:port)
//
// PROBE_WORKERS_FAIL=1: every worker exits with status 3 before it listens, and the primary
// restarts them (until it gives up).
import Cluster
import Foundation
import HTTP1
import URing
import Web

struct Ping: Codable, Sendable { var n: Int }
struct Pong: Codable, Sendable { var n: Int }
struct Unhandled: Codable, Sendable {}
struct Failing: Codable, Sendable {}
struct Hello: Codable, Sendable { var from: Int }
struct ProbeFailure: Error, CustomStringConvertible { var description: String { "failing on purpose" } }

func status(for error: any Error) -> HTTPStatus {
    switch error as? ClusterRequestError {
    case .timedOut: .gatewayTimeout
    case .noHandler: .notImplemented
    case .failed: .badGateway
    default: .internalServerError
    }
}

/// The ready line goes to standard output; every event line to standard error.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
func event(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

let cluster = Cluster()
if cluster.isPrimary {
    // Handlers first, setupPrimary after them (as Node allows).
    cluster.onRequest(Ping.self) { _, ping in Pong(n: ping.n + 1) }
    cluster.setupPrimary { settings in
        settings.workingDirectory = ProcessInfo.processInfo.environment["PROBE_CWD"]
        settings.environment["PROBE_VAR"] = "from-setup"
        if ProcessInfo.processInfo.environment["PROBE_WORKERS_FAIL"] != nil { settings.restartWorkers = true }
    }
    cluster.onRequest(Failing.self) { _, _ -> Pong in throw ProbeFailure() }
    cluster.onListening { _, port in
        say("listening on http://127.0.0.1:\(port)")
        // PROBE_SHUTDOWN_AFTER_MS: stop from another thread, as a library user's code might.
        if let ms = ProcessInfo.processInfo.environment["PROBE_SHUTDOWN_AFTER_MS"].flatMap(Int.init) {
            Thread {
                usleep(UInt32(ms) * 1000)
                cluster.shutdown()
            }.start()
        }
    }
    cluster.onMessage(Hello.self) { worker, hello in event("cluster message \(worker.id) from \(hello.from)") }
    cluster.onExit { worker, _ in event("cluster exit \(worker.id)") }
    cluster.onWorkerDescriptor { worker, message, fd in
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = pread(fd, &buffer, 64, 0)
        close(fd)
        event("primary descriptor \(worker.id) \(String(decoding: message, as: UTF8.self)): \(String(decoding: buffer.prefix(max(0, n)), as: UTF8.self))")
    }
    do {
        let worker = try cluster.fork()
        // A descriptor with a message, from the first moment: an unlinked file the worker reads.
        var template = Array("/tmp/cluster-probe-XXXXXX".utf8CString)
        let file = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = "via-descriptor".withCString { write(file, $0, 14) }
        try worker.send(Array("file".utf8), descriptor: file)
        worker.onOnline { event("worker online \(worker.id)") }
        worker.onListening { port in event("worker listening \(worker.id) \(port > 0)") }
        worker.onMessage(Hello.self) { hello in event("worker message \(worker.id) from \(hello.from)") }
        worker.onExit { status in event("worker exit \(worker.id) \(status)") }
        try cluster.run()
    } catch {
        say("primary failed: \(error)")
        exit(1)
    }
} else {
    if ProcessInfo.processInfo.environment["PROBE_WORKERS_FAIL"] != nil { exit(3) }
    var router = Router()
    /// Asks the primary; the reply's text, or the error's with its status.
    @Sendable func ask<Request: Encodable & Sendable>(_ request: Request, timeoutMilliseconds: Int = 2000) async -> Response {
        do {
            let pong = try await cluster.request(request, expecting: Pong.self, timeout: .milliseconds(timeoutMilliseconds))
            return .text("pong \(pong.n)")
        } catch {
            return .text("\(error)", status: status(for: error))
        }
    }
    router.get("/ask") { request async -> Response in
        await ask(Ping(n: 41), timeoutMilliseconds: request.query("timeout_ms", as: Int.self) ?? 2000)
    }
    router.get("/unhandled") { _ async -> Response in await ask(Unhandled()) }
    router.get("/failing") { _ async -> Response in await ask(Failing()) }
    router.get("/where") { _, response in
        let cwd = FileManager.default.currentDirectoryPath
        response.respond(.ok, text: "\(cwd) \(ProcessInfo.processInfo.environment["PROBE_VAR"] ?? "-")")
    }
    router.get("/message") { _, response in
        do {
            try cluster.worker!.send(Hello(from: cluster.workerID!))
            response.respond(.accepted, body: "sent\n")
        } catch {
            response.respond(.internalServerError, text: "\(error)")
        }
    }
    router.get("/client") { request, response in
        response.respond(.ok, text: request.clientAddress?.description ?? "unknown")
    }
    cluster.onDrain { event("worker drain \(cluster.workerID!)") }
    final class Received: @unchecked Sendable { var text = "-" }
    let received = Received()
    cluster.onDescriptor { message, fd in
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = pread(fd, &buffer, 64, 0)
        close(fd)
        received.text = String(decoding: message, as: UTF8.self) + ": " + String(decoding: buffer.prefix(max(0, n)), as: UTF8.self)
    }
    router.get("/descriptor") { _, response in response.respond(.ok, text: received.text) }
    router.get("/give") { _, response in
        var template = Array("/tmp/cluster-probe-XXXXXX".utf8CString)
        let file = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = "from-worker".withCString { write(file, $0, 11) }
        do {
            try cluster.worker!.send(Array("give".utf8), descriptor: file)
            response.respond(.accepted, body: "given\n")
        } catch {
            response.respond(.internalServerError, text: "\(error)")
        }
    }
    do {
        try cluster.serve(Application(router: router), port: 0)
    } catch {
        say("worker failed: \(error)")
        exit(1)
    }
}
