import Foundation
import Glibc
import Testing

/// The primary, its workers and a lone server run as swift-service-lifecycle services
/// (Tests/Fixtures/lifecycle-probe), in ServiceGroups that own SIGTERM and SIGINT, under an
/// async main whose other threads do not block any signal. Driven with real signals.
@Suite(.serialized) struct LifecycleServiceTests {
    /// The probe's event lines (standard error), read as they come.
    final class Events {
        let server: ServerProcess
        var lines: [String] = []
        init(_ server: ServerProcess) { self.server = server }

        /// Reads lines until one satisfies `match` (or 15 s pass); whether one did.
        @discardableResult
        func wait(for match: (String) -> Bool) -> Bool {
            if lines.contains(where: match) { return true }
            let deadline = Date().addingTimeInterval(15)
            while Date() < deadline {
                let left = deadline.timeIntervalSinceNow
                guard let line = try? ServerProcess.readLine(server.errors.fileHandleForReading, timeoutSeconds: left),
                      !line.isEmpty else {
                    if !server.process.isRunning { return false }
                    continue
                }
                lines.append(line)
                if match(line) { return true }
            }
            return false
        }

        /// Every line up to the process's exit (which it must reach by itself in 15 s).
        func untilExit() -> Bool {
            for _ in 0..<1500 where server.process.isRunning { usleep(10_000) }
            let exited = !server.process.isRunning
            server.stop()
            let rest = String(decoding: server.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            lines += rest.split(separator: "\n").map(String.init)
            return exited
        }

        func index(_ line: String) -> Int? { lines.firstIndex(of: line) }
        /// The pid of the worker with `id` that came online last.
        func pid(of id: Int) -> pid_t? {
            lines.last { $0.hasPrefix("online \(id) ") }.flatMap { pid_t($0.split(separator: " ")[2]) }
        }
    }

    static func get(_ port: Int, _ path: String) throws -> TestResponse? {
        let c = try TestClient(port: port)
        try c.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
        return c.readResponse()
    }

    /// Sends SIGTERM to the process while `/slow` is in flight; its response, which must
    /// be whole: a graceful stop cuts nothing in progress.
    /// `milliseconds`: how long the handler takes; long enough that the drain has begun
    /// when it answers, on a busy machine too.
    static func sigtermDuringASlowRequest(_ server: ServerProcess, milliseconds: Int = 600) throws -> TestResponse? {
        let slow = try TestClient(port: server.port)
        try slow.send("GET /slow?ms=\(milliseconds) HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(200_000)
        kill(server.process.processIdentifier, SIGTERM)
        let response = slow.readResponse()
        #expect(response?.status == 200)
        #expect(response?.text == "slow done")
        return response
    }

    /// SIGTERM to the primary, with a request in flight: the group shuts the primary's
    /// service down, which drains the workers; each worker's group then closes its own
    /// resource, and the primary's group closes its own last. Nothing in flight is cut.
    @Test func theGroupsSignalDrainsTheClusterThenClosesTheApplicationsResources() throws {
        let server = try ServerProcess(program: ServerProcess.product("lifecycle-probe"), [])
        let events = Events(server)
        #expect(events.wait { $0.hasPrefix("online 2 ") }, "\(events.lines)")
        let response = try Self.sigtermDuringASlowRequest(server)
        #expect(events.untilExit(), "the primary exited by itself: \(events.lines)")
        #expect(server.process.terminationStatus == 0)
        let lines = events.lines
        for id in [1, 2] {
            let drain = events.index("drain \(id)"), closed = events.index("\(id) db closed")
            #expect(drain != nil && closed != nil && drain! < closed!, "worker \(id) drained, then closed its resource: \(lines)")
            #expect(closed != nil && events.index("store closed") != nil && closed! < events.index("store closed")!,
                    "the primary's resource closed after the workers': \(lines)")
        }
        #expect(lines.contains("stopped cleanly: true"), "\(lines)")
    }

    /// The signals the primary keeps reach its loop though the group's threads do not block
    /// them: a killed worker is restarted (SIGCHLD), SIGHUP restarts every worker. A worker's
    /// own SIGTERM, taken by its group, has the primary replace it.
    @Test func supervisionSignalsStillReachThePrimaryBesideTheGroup() throws {
        let server = try ServerProcess(program: ServerProcess.product("lifecycle-probe"), [])
        let events = Events(server)
        #expect(events.wait { _ in events.pid(of: 1) != nil && events.pid(of: 2) != nil }, "\(events.lines)")
        let first = try #require(events.pid(of: 1))
        let second = try #require(events.pid(of: 2))

        kill(first, SIGTERM)
        #expect(events.wait { $0.hasPrefix("online 3 ") }, "worker 1 was replaced: \(events.lines)")
        #expect(events.wait { $0 == "1 db closed" }, "worker 1's group closed its resource: \(events.lines)")

        kill(second, SIGKILL)
        #expect(events.wait { $0.hasPrefix("online 2 ") && !$0.hasSuffix(" \(second)") },
                "worker 2 was restarted (SIGCHLD reached the primary's loop): \(events.lines)")
        #expect(try Self.get(server.port, "/")?.text == "hello")

        let before = events.lines.filter { $0.hasPrefix("online ") }.count
        kill(server.process.processIdentifier, SIGHUP)
        #expect(events.wait { _ in events.lines.filter { $0.hasPrefix("online ") }.count >= before + 2 },
                "SIGHUP restarted both workers: \(events.lines)")
        #expect(try Self.get(server.port, "/")?.text == "hello")

        kill(server.process.processIdentifier, SIGTERM)
        #expect(events.untilExit(), "\(events.lines)")
        #expect(server.process.terminationStatus == 0)
        #expect(events.lines.contains("stopped cleanly: true"), "\(events.lines)")
    }

    /// One server alone, as a service: the group's SIGTERM is its graceful stop.
    @Test func aLoneServerServiceDrainsOnTheGroupsSignal() throws {
        let server = try ServerProcess(program: ServerProcess.product("lifecycle-probe"), [],
                                       environment: ["PROBE_MODE": "server"])
        let events = Events(server)
        #expect(try Self.get(server.port, "/")?.text == "hello")
        // The answer must come after the drain began (200 ms, then the service's stop grace).
        let response = try Self.sigtermDuringASlowRequest(server, milliseconds: 2000)
        #expect(response?.headers["connection"] == "close", "answered as the drain answers")
        #expect(events.untilExit(), "\(events.lines)")
        #expect(server.process.terminationStatus == 0)
        #expect(events.lines.contains("server resource closed"), "\(events.lines)")
    }
}
