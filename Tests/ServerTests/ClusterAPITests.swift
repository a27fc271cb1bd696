import Foundation
import Testing

/// The cluster API as a program uses it (Tests/Fixtures/cluster-probe): per-worker events,
/// setupPrimary, Codable messages, and requests to the primary with their failures.
@Suite(.serialized) struct ClusterAPITests {
    static func start(cwd: String = "/tmp") throws -> ServerProcess {
        try ServerProcess(program: ServerProcess.product("cluster-probe"), [], environment: ["PROBE_CWD": cwd])
    }

    static func get(_ port: Int, _ path: String) throws -> TestResponse {
        try fetch(port, "GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
    }

    /// The event lines the primary printed (on standard error), up to its exit.
    static func eventLines(_ server: ServerProcess) -> [String] {
        server.stopAndCollectErrors().split(separator: "\n").map(String.init)
    }

    @Test func aWorkerAsksThePrimaryAndGetsItsTypedReply() throws {
        let server = try Self.start()
        defer { server.stop() }
        let r = try Self.get(server.port, "/ask")
        #expect(r.status == 200)
        #expect(r.text == "pong 42")
        // Many at once, on several connections: each gets its own reply.
        let clients = try (0..<10).map { _ in try TestClient(port: server.port) }
        for c in clients { try c.send("GET /ask HTTP/1.1\r\nHost: t\r\n\r\n") }
        for c in clients { #expect(c.readResponse()?.text == "pong 42") }
    }

    @Test func aRequestWithoutAHandlerOrWhoseHandlerThrowsIsAClearError() throws {
        let server = try Self.start()
        defer { server.stop() }
        let missing = try Self.get(server.port, "/unhandled")
        #expect(missing.status == 501)
        #expect(missing.text.contains("no handler for Unhandled"), "\(missing.text)")
        let failing = try Self.get(server.port, "/failing")
        #expect(failing.status == 502)
        #expect(failing.text.contains("failing on purpose"), "\(failing.text)")
    }

    @Test func aPrimaryThatDoesNotAnswerInTimeIsATimeout() throws {
        let server = try Self.start()
        defer {
            kill(server.process.processIdentifier, SIGCONT)
            server.stop()
        }
        // A connection the worker already has (a stopped primary accepts nothing new).
        let c = try TestClient(port: server.port)
        try c.send("GET /ask HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(c.readResponse()?.text == "pong 42")
        // A stopped primary reads nothing: the request's own deadline ends the wait.
        kill(server.process.processIdentifier, SIGSTOP)
        try c.send("GET /ask?timeout_ms=300 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try #require(c.readResponse())
        #expect(r.status == 504)
        #expect(r.text.contains("did not reply in time"))
        kill(server.process.processIdentifier, SIGCONT)
        #expect(try Self.get(server.port, "/ask").text == "pong 42", "and the next one is answered")
    }

    @Test func aDescriptorSentWithAMessageArrivesOpenInTheWorker() throws {
        let server = try Self.start()
        defer { server.stop() }
        #expect(try Self.get(server.port, "/descriptor").text == "file: via-descriptor")
    }

    /// A connection the primary accepted and handed to the worker (round-robin) still
    /// shows the worker its real client.
    @Test func aHandedOffConnectionKnowsItsClient() throws {
        let server = try Self.start()
        defer { server.stop() }
        for _ in 0..<3 {
            let client = try TestClient(port: server.port)
            try client.send("GET /client HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(client.readResponse()?.text == "127.0.0.1:\(client.localPort)")
        }
    }

    @Test func setupPrimaryGivesWorkersTheirDirectoryAndEnvironment() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("probe-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try Self.start(cwd: dir)
        defer { server.stop() }
        #expect(try Self.get(server.port, "/where").text == "\(dir) from-setup")
    }

    /// `Cluster.shutdown()` from a thread of the program's own: the primary's loop takes it
    /// through its executor and stops as for SIGTERM, its workers drained.
    @Test func shutdownFromAnotherThreadStopsTheClusterCleanly() throws {
        let server = try ServerProcess(program: ServerProcess.product("cluster-probe"), [],
                                       environment: ["PROBE_SHUTDOWN_AFTER_MS": "200"])
        for _ in 0..<1500 where server.process.isRunning { usleep(10_000) }
        #expect(!server.process.isRunning, "stopped within 15 s")
        let lines = Self.eventLines(server)
        #expect(server.process.terminationStatus == 0)
        #expect(lines.contains("worker drain 1"), "\(lines)")
    }

    @Test func eventsReachTheWorkersOwnHandlersThenTheClusters() throws {
        let server = try Self.start()
        #expect(try Self.get(server.port, "/message").status == 202)
        #expect(try Self.get(server.port, "/give").status == 202)
        usleep(200_000)
        let lines = Self.eventLines(server)
        #expect(lines.contains("worker online 1"), "\(lines)")
        #expect(lines.contains("primary descriptor 1 give: from-worker"), "a worker's descriptor reached the primary: \(lines)")
        #expect(lines.contains("worker listening 1 true"), "\(lines)")
        let workerMessage = lines.firstIndex(of: "worker message 1 from 1")
        let clusterMessage = lines.firstIndex(of: "cluster message 1 from 1")
        #expect(workerMessage != nil && clusterMessage != nil && workerMessage! < clusterMessage!, "\(lines)")
        let drained = lines.firstIndex(of: "worker drain 1")
        let workerExit = lines.firstIndex { $0.hasPrefix("worker exit 1") }
        #expect(drained != nil && workerExit != nil && drained! < workerExit!, "the worker heard of its drain: \(lines)")
        let clusterExit = lines.firstIndex(of: "cluster exit 1")
        #expect(workerExit != nil && clusterExit != nil && workerExit! < clusterExit!, "\(lines)")
    }
}
