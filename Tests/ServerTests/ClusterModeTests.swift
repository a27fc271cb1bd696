import Foundation
import Glibc
import Testing

/// The primary and its workers as real processes: every distribution mode, the balance
/// policies, the debug lines, messages both ways, signals.
@Suite struct ClusterModeTests {
    /// Sends `count` requests, each on a new connection, and checks every answer.
    func sequentialConnections(_ port: Int, _ count: Int) throws {
        for _ in 0..<count {
            let r = try fetch(port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(r.status == 200)
        }
    }

    @Test(arguments: ["round-robin", "round-robin+message", "shared", "reuseport"])
    func everyModeServesOnePortFromItsWorkers(_ mode: String) throws {
        let server = try ServerProcess(["--workers", "2"] + modeArguments(mode))
        try sequentialConnections(server.port, 200)
        let stats = try clusterStats(server.port)
        #expect(stats.mode == reportedMode(mode))
        #expect(stats.workers.count == 2)
        #expect(Set(stats.workers.map(\.pid)).count == 2)
        #expect(!stats.workers.contains { $0.pid == Int(server.process.processIdentifier) })
        // 200 answered, plus the /stats connection itself.
        #expect(stats.workers.map(\.requests).reduce(0, +) == 200)
        #expect(stats.workers.map(\.connections).reduce(0, +) == 201)
        if mode != "shared" {
            // Round-robin rotates and reuseport hashes 200 source ports: both workers serve.
            // (Shared mode may leave all to one worker: io_uring's accept waits exclusively.)
            #expect(stats.workers.allSatisfy { $0.connections > 0 }, "\(stats.workers)")
        }
    }

    /// Node's promise for round-robin: N×100 new connections spread evenly.
    @Test func roundRobinSpreadsSequentialConnectionsEvenly() throws {
        let server = try ServerProcess(["--workers", "3"])
        try sequentialConnections(server.port, 300)
        let counts = try clusterStats(server.port).workers.map(\.connections)
        #expect(counts.count == 3)
        #expect(counts.max()! - counts.min()! <= 2, "\(counts)")
    }

    @Test(arguments: ["load-aware", "round-robin", "least-connections", "p2c", "ip-hash"])
    func everyBalancePolicyServes(_ policy: String) throws {
        let server = try ServerProcess(["--workers", "2", "--balance", policy])
        try sequentialConnections(server.port, 60)
        let stats = try clusterStats(server.port)
        #expect(stats.balance == policy)
        let counts = stats.workers.map(\.connections)
        #expect(counts.reduce(0, +) == 61)
        switch policy {
        case "ip-hash":
            // Every connection comes from 127.0.0.1: all of them go to one worker.
            #expect(counts.sorted() == [0, 61], "\(counts)")
        case "round-robin", "load-aware":
            #expect(counts.max()! - counts.min()! <= 2, "\(counts)")
        default:
            #expect(counts.allSatisfy { $0 > 0 }, "\(counts)")
        }
    }

    /// load-aware: a worker in a long request is busy now, whatever its published load says
    /// (a worker publishes when a loop turn ends), so new connections go to the other one.
    /// Before, the busy worker still took connections until enough of them sat
    /// unacknowledged in its queue, each waiting for the long request to end.
    @Test(arguments: ["round-robin", "round-robin+message"])
    func aWorkerInALongRequestGetsNoNewConnections(_ mode: String) throws {
        let server = try ServerProcess(["--workers", "2", "--balance", "load-aware"] + modeArguments(mode))
        let before = try clusterStats(server.port).workers.map(\.connections)
        let long = try TestConnection(port: server.port, receiveTimeoutSeconds: 20)
        try long.send("GET /burn?us=1500000 HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(200_000)  // the burn has begun (it lasts 1.5 s)
        for _ in 0..<10 {
            let r = try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(r.status == 200)
        }
        #expect(long.readResponse()?.text == "burned\n")
        let after = try clusterStats(server.port).workers.map(\.connections)
        let added = zip(after, before).map { $0 - $1 }
        // The long request's connection, the 10, and the last /stats: 12 in all. The busy
        // worker has the long one and at most the /stats that came after its burn.
        #expect(added.reduce(0, +) == 12, "\(added)")
        #expect(added.min()! <= 2, "the busy worker took connections: \(added)")
    }

    @Test func keepAliveConnectionsAreHandedOverToo() throws {
        let server = try ServerProcess(["--workers", "2"])
        let connections = try (0..<10).map { _ in try TestConnection(port: server.port) }
        for c in connections {
            try c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(c.readResponse()?.text == "hello world\n")
            #expect(c.readResponse()?.text == "hello world\n")
        }
        let stats = try clusterStats(server.port)
        #expect(stats.workers.map(\.active).reduce(0, +) == 11)
        #expect(stats.workers.allSatisfy { $0.active >= 5 }, "\(stats.workers)")
    }

    @Test func metricsUseThePrometheusFormat() throws {
        let server = try ServerProcess(["--workers", "2"])
        try sequentialConnections(server.port, 4)
        let r = try fetch(server.port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 200)
        #expect(r.header("content-type")?.hasPrefix("text/plain") == true)
        #expect(r.text.contains("uring_cluster_info{mode=\"round-robin\",balance=\"load-aware\"} 1"))
        #expect(r.text.contains("# TYPE uring_cluster_requests_total counter"))
        let lines = r.text.split(separator: "\n").filter { $0.hasPrefix("uring_cluster_requests_total{") }
        #expect(lines.count == 2)
        let total = lines.compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
        #expect(total == 4)
    }

    @Test func clusterDebugPrintsLifecycleLines() throws {
        let server = try ServerProcess(["--workers", "2"], environment: ["CLUSTER_DEBUG": "1"])
        let pids = try clusterStats(server.port).workers.map(\.pid)
        let primary = server.process.processIdentifier
        let log = server.stopAndCollectErrors()
        for pid in pids {
            #expect(log.contains("\(primary),Primary Worker \(pid) online"), "\(log)")
            #expect(log.contains("\(primary),Primary Worker \(pid) listening on port \(server.port)"), "\(log)")
            #expect(log.contains("\(pid),Worker listening on 127.0.0.1:\(server.port)"), "\(log)")
        }
    }

    /// The hand-off path is decided once, at start, and said once: through the ring by
    /// default on this kernel, by message when asked or when the policy needs a process
    /// descriptor (ip-hash reads the peer address).
    @Test(arguments: [
        (["--workers", "2"], "hand-offs go through the ring"),
        (["--workers", "2", "--handoff", "message"], nil),
        (["--workers", "2", "--balance", "ip-hash"], "hand-offs use SCM_RIGHTS messages"),
    ])
    func theHandoffPathIsLoggedOnceAtStart(_ arguments: [String], _ line: String?) throws {
        let server = try ServerProcess(arguments, environment: ["CLUSTER_DEBUG": "1"])
        try sequentialConnections(server.port, 20)
        let log = server.stopAndCollectErrors()
        let mentions = log.components(separatedBy: "\n").filter { $0.contains("hand-offs") }
        if let line {
            #expect(mentions.count == 1 && mentions[0].contains(line), "\(mentions)")
        } else {
            #expect(mentions.isEmpty, "\(mentions)")
        }
    }

    /// Forcing the ring where it cannot work fails at start, with one line, not at the first connection.
    @Test func forcingTheRingWithIPHashFailsAtStart() throws {
        let (status, _, stderr) = try runBinary(["serve", "--port", "0", "--workers", "1", "--handoff", "ring", "--balance", "ip-hash"])
        #expect(status != 0)
        let errorLines = stderr.split(separator: "\n").filter { $0.contains("rror") }
        #expect(errorLines.count == 1 && errorLines[0].contains("--handoff ring") && errorLines[0].contains("ip-hash"), "\(stderr)")
    }

    @Test func withoutClusterDebugThereAreNoLifecycleLines() throws {
        let server = try ServerProcess(["--workers", "2"], environment: ["CLUSTER_DEBUG": ""])
        _ = try clusterStats(server.port)
        let log = server.stopAndCollectErrors()
        #expect(!log.contains("online"), "\(log)")
    }

    @Test func aDeadWorkerIsLoggedAndTheOthersGoOnServing() throws {
        let server = try ServerProcess(["--workers", "2"])
        let victim = try clusterStats(server.port).workers[0].pid
        kill(pid_t(victim), SIGKILL)
        // The primary notices the exit and stops routing to it: every request is answered.
        usleep(200_000)
        try sequentialConnections(server.port, 20)
        let log = server.stopAndCollectErrors()
        #expect(log.contains("worker \(victim) died: killed by signal 9"), "\(log)")
    }

    @Test func sigtermStopsThePrimaryAndEveryWorker() throws {
        let server = try ServerProcess(["--workers", "2"])
        let pids = try clusterStats(server.port).workers.map(\.pid)
        kill(server.process.processIdentifier, SIGTERM)
        server.process.waitUntilExit()
        #expect(server.process.terminationReason == .exit)
        #expect(server.process.terminationStatus == 0)
        for pid in pids { #expect(kill(pid_t(pid), 0) != 0, "worker \(pid) outlived the primary") }
    }

    /// The library example: the seed's program in Swift, with a message each way.
    @Test func exampleExchangesMessagesBothWays() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ServerProcess.product("cluster-hello"))
        var env = ProcessInfo.processInfo.environment
        env["PORT"] = "0"
        env["WORKERS"] = "2"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        defer {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        var lines: [String] = []
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let line = try ServerProcess.readLine(out.fileHandleForReading, timeoutSeconds: 1)
            if !line.isEmpty { lines.append(line) }
            if lines.filter({ $0.contains("got: welcome") }).count == 2 { break }
        }
        #expect(lines.first?.hasPrefix("Primary ") == true)
        for id in [1, 2] {
            #expect(lines.contains("primary got from worker \(id): hello from worker \(id)"), "\(lines)")
            #expect(lines.contains("worker \(id) got: welcome, worker \(id)"), "\(lines)")
            // Sent from onFork, before the worker asked for its port: it used to fail the start.
            #expect(lines.contains("worker \(id) got: config for worker \(id)"), "\(lines)")
        }
        let port = try #require(lines.first { $0.contains("listening on port") }?.split(separator: " ").last.flatMap { Int($0) })
        #expect(try fetch(port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").text == "hello world\n")
    }
}
