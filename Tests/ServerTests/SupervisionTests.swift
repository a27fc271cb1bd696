import Foundation
import Glibc
import Testing

/// Workers that die, restart, drain and scale, under real load and real signals. Every
/// load is bounded in time; timings are reported, not asserted against thresholds, except
/// generous bounds that only catch a hang.
@Suite(.serialized) struct SupervisionTests {
    func pids(_ port: Int) -> [Int] { (try? clusterStats(port).workers.map(\.pid)) ?? [] }

    @Test func killedWorkerIsReplacedWhileOthersServe() throws {
        let server = try ServerProcess(["--workers", "2"])
        let before = pids(server.port)
        let load = ChurnLoad(port: server.port, clients: 1, seconds: 2.5)
        usleep(500_000)
        let victim = before[0]
        kill(pid_t(victim), SIGKILL)
        let replaced = waitFor(seconds: 10) {
            let now = pids(server.port)
            return now.count == 2 && !now.contains(victim)
        }
        let (ok, failed) = load.finish()
        print("replacement serving \(replaced.map { String(format: "%.2f s", $0) } ?? "never") after kill -9; \(ok) answered, \(failed) failed \(load.failures)")
        #expect(replaced != nil)
        // One client, so at most the one request the victim was answering can fail.
        #expect(failed <= 1)
        #expect(ok > 0)
        let log = server.stopAndCollectErrors()
        #expect(log.contains("worker \(victim) died: killed by signal 9"))
        #expect(log.contains("restarting worker"))
    }

    /// Connections handed to a worker that dies before acknowledging them go elsewhere.
    @Test func unacknowledgedHandoffsSurviveTheirWorker() throws {
        let server = try ServerProcess(["--workers", "2", "--balance", "round-robin"])
        let victim = pids(server.port)[0]
        kill(pid_t(victim), SIGSTOP)
        // Strict rotation sends about half of these to the stopped worker: unacknowledged.
        let connections = try (0..<6).map { _ in try TestConnection(port: server.port) }
        for c in connections { try c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n") }
        usleep(300_000)
        kill(pid_t(victim), SIGKILL)
        for c in connections {
            #expect(c.readResponse()?.text == "hello world\n")
        }
    }

    @Test(arguments: ["round-robin", "shared", "reuseport"], [false, true])
    func rollingRestartUnderLoadHasNoErrors(_ mode: String, _ connectionClose: Bool) throws {
        let server = try ServerProcess(["--workers", "2", "--mode", mode], environment: ["CLUSTER_DEBUG": "1"])
        let before = Set(pids(server.port))
        let result = try runWrk(port: server.port, seconds: 4, close: connectionClose, delay: 1) {
            kill(server.process.processIdentifier, SIGHUP)
        }
        // The restart may still be finishing on a busy machine: wait for it (bounded).
        _ = waitFor(seconds: 15) { Set(pids(server.port)).isDisjoint(with: before) && pids(server.port).count == 2 }
        let after = Set(pids(server.port))
        print("SIGHUP in \(mode) mode under \(connectionClose ? "connection-per-request" : "keep-alive") load: \(result.requests) requests, \(result.socketErrors) socket errors, \(result.non2xx) non-2xx")
        #expect(result.requests > 0)
        #expect(result.socketErrors == 0, "\(result.output)")
        #expect(result.non2xx == 0)
        #expect(after.count == 2)
        if !after.isDisjoint(with: before) || after.count != 2 {
            Issue.record("not every worker was replaced: before \(before), after \(after)\n\(server.stopAndCollectErrors())")
        }
    }

    @Test func sigtermLetsInFlightRequestsFinish() throws {
        let server = try ServerProcess(["--workers", "2"])
        let connections = try (0..<6).map { _ in try TestConnection(port: server.port) }
        for c in connections { try c.send("GET /delay?ms=700 HTTP/1.1\r\nHost: t\r\n\r\n") }
        usleep(200_000)
        kill(server.process.processIdentifier, SIGTERM)
        for c in connections {
            #expect(c.readResponse()?.text == "delayed\n")
        }
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
    }

    /// Successive rolling restarts reuse worker slots while the old channels wind down.
    @Test func repeatedRollingRestartsKeepTheCount() throws {
        let server = try ServerProcess(["--workers", "2"])
        let load = ChurnLoad(port: server.port, clients: 1, seconds: 4)
        for _ in 0..<3 {
            let before = Set(pids(server.port))
            kill(server.process.processIdentifier, SIGHUP)
            #expect(waitFor(seconds: 15) {
                let now = pids(server.port)
                return now.count == 2 && Set(now).isDisjoint(with: before)
            } != nil)
        }
        let (ok, failed) = load.finish()
        #expect(ok > 0)
        #expect(failed == 0, "\(load.failures)")
        #expect(pids(server.port).count == 2)
    }

    /// A client that stops reading a large response does not hold the drain: the send
    /// makes no progress for --header-timeout, the connection is closed, the worker exits.
    @Test func aClientThatStopsReadingDoesNotHoldTheShutdown() throws {
        let server = try ServerProcess(["--workers", "1", "--header-timeout", "1s", "--max-body-bytes", "16777216",
                                        "--shutdown-timeout", "60s"])
        let c = try TestConnection(port: server.port)
        let body = [UInt8](repeating: 120, count: 12 * 1024 * 1024)
        try c.send(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        usleep(500_000)
        let start = Date()
        kill(server.process.processIdentifier, SIGTERM)
        let exited = waitFor(seconds: 20) { !server.process.isRunning }
        print("shutdown with a stalled reader took \(exited.map { String(format: "%.2f s", $0) } ?? "more than 20 s")")
        #expect(exited != nil)
        #expect(Date().timeIntervalSince(start) < 20)
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
    }

    @Test func sigtermUnderChurnLoadExitsCleanly() throws {
        let server = try ServerProcess(["--workers", "2"])
        let load = ChurnLoad(port: server.port, clients: 2, seconds: 1.5)
        usleep(700_000)
        kill(server.process.processIdentifier, SIGTERM)
        server.process.waitUntilExit()
        let (ok, _) = load.finish()
        #expect(ok > 0)
        #expect(server.process.terminationStatus == 0)
    }

    /// A stopped worker (SIGSTOP) gets no new connections: none waits for its return.
    @Test func stoppedWorkerIsSkipped() throws {
        let server = try ServerProcess(["--workers", "2"])
        let victim = pids(server.port)[0]
        kill(pid_t(victim), SIGSTOP)
        defer { kill(pid_t(victim), SIGCONT) }
        // Its heartbeat goes stale within a second.
        usleep(1_200_000)
        let start = Date()
        for _ in 0..<20 {
            let c = try TestConnection(port: server.port, receiveTimeoutSeconds: 2)
            try c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(c.readResponse()?.status == 200)
        }
        print("20 connections with one worker stopped: \(String(format: "%.3f", Date().timeIntervalSince(start))) s")
    }

    /// The watchdog: a worker whose loop stops turning (SIGSTOP stands in for a stuck loop)
    /// is killed after --worker-timeout and replaced.
    @Test func stuckWorkerIsKilledAndReplaced() throws {
        let server = try ServerProcess(["--workers", "2", "--worker-timeout", "1s"])
        let victim = pids(server.port)[0]
        kill(pid_t(victim), SIGSTOP)
        let replaced = waitFor(seconds: 10) {
            let now = pids(server.port)
            return now.count == 2 && !now.contains(victim)
        }
        print("stuck worker replaced after \(replaced.map { String(format: "%.2f s", $0) } ?? "never")")
        #expect(replaced != nil)
        let log = server.stopAndCollectErrors()
        #expect(log.contains("worker \(victim) sent no heartbeat"), "\(log)")
    }

    @Test func sigttinAndSigttouChangeTheWorkerCount() throws {
        let server = try ServerProcess(["--workers", "2"])
        kill(server.process.processIdentifier, SIGTTIN)
        #expect(waitFor(seconds: 10) { pids(server.port).count == 3 } != nil)
        // One signal at a time: two pending SIGTTOUs would merge into one.
        kill(server.process.processIdentifier, SIGTTOU)
        #expect(waitFor(seconds: 10) { pids(server.port).count == 2 } != nil)
        kill(server.process.processIdentifier, SIGTTOU)
        #expect(waitFor(seconds: 10) { pids(server.port).count == 1 } != nil)
        try ClusterModeTests().sequentialConnections(server.port, 10)
        // The last worker is never retired.
        kill(server.process.processIdentifier, SIGTTOU)
        usleep(300_000)
        #expect(pids(server.port).count == 1)
    }

    /// Reuseport listeners belong to the primary: retiring a worker (its listener's queue is
    /// then served by the primary) and killing one reset no queued connection.
    @Test func reuseportRetireAndCrashResetNothingQueued() throws {
        let server = try ServerProcess(["--workers", "3", "--mode", "reuseport"])
        let load = ChurnLoad(port: server.port, clients: 2, seconds: 3)
        usleep(600_000)
        kill(server.process.processIdentifier, SIGTTOU)
        usleep(800_000)
        let (ok, failed) = load.finish()
        print("reuseport, SIGTTOU under churn: \(ok) answered, \(failed) failed \(load.failures)")
        #expect(ok > 0)
        #expect(failed == 0)
        #expect(pids(server.port).count == 2)
        // The retired worker's listener is still served: every new connection is answered,
        // whichever listener the kernel's hash picks.
        try ClusterModeTests().sequentialConnections(server.port, 100)
    }

    @Test func workersThatCannotStartMakeThePrimaryGiveUp() throws {
        // Each worker of the probe exits before it listens; the primary restarts it with
        // back-off, then gives up, saying so without a made-up errno (it said ECHILD).
        let (status, stdout, _) = try runBinary([], program: ServerProcess.product("cluster-probe"),
                                                environment: ["PROBE_WORKERS_FAIL": "1"], timeoutSeconds: 30)
        #expect(status == 1)
        #expect(stdout.contains("workers keep failing to start: 5 exited in a row before listening (the last: exited with code 3)"), "\(stdout)")
        #expect(!stdout.contains("errno"), "\(stdout)")
    }

    @Test func anAddressOnNoInterfaceIsOneLineAtStart() throws {
        // 192.0.2.1 (TEST-NET-1) is on no interface: bind fails, and no respawn can mend it.
        let (status, _, stderr) = try runBinary(["serve", "--host", "192.0.2.1", "--port", "0", "--workers", "2"])
        #expect(status == 1)
        expectOneErrorLine(stderr, naming: "no interface of this machine has that address")
    }

    /// Runs `script` (a shell line ending in `exec ... serve --port 0 ...`, after a ulimit)
    /// and waits for the server's ready line; returns the shell-turned-server and its port.
    func startLimited(_ script: String) throws -> (Process, Int) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let ready = try ServerProcess.readLine(out.fileHandleForReading, timeoutSeconds: 20)
        guard let port = Int(ready.split(separator: ":").last ?? "") else {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            throw TestFailure("server did not become ready: \(ready.debugDescription)")
        }
        return (p, port)
    }

    /// At a low descriptor limit: no busy loop, and service resumes when clients leave.
    @Test func descriptorExhaustionDoesNotSpin() throws {
        let script = "ulimit -n 48; exec '\(ServerProcess.binary)' serve --port 0 --workers 1 --queue-timeout 1s"
        let (p, port) = try startLimited(script)
        defer { kill(p.processIdentifier, SIGTERM); p.waitUntilExit() }
        let worker = pid_t(pids(port).first ?? 0)
        // Far more connections than the worker can hold.
        var held: [TestConnection] = []
        for _ in 0..<120 { if let c = try? TestConnection(port: port, receiveTimeoutSeconds: 3) { held.append(c) } }
        let cpu0 = cpuSeconds(p.processIdentifier) + cpuSeconds(worker)
        usleep(2_000_000)
        let used = cpuSeconds(p.processIdentifier) + cpuSeconds(worker) - cpu0
        print("CPU used over 2 s at the descriptor limit: \(String(format: "%.2f", used)) s")
        #expect(used < 1.0, "busy loop at the descriptor limit")
        held.removeAll()
        usleep(1_500_000)
        #expect(waitFor(seconds: 10) {
            (try? fetch(port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status) == 200
        } != nil)
    }

    /// Two workers at their descriptor limit: hand-offs they refuse used to bounce between
    /// them with no back-off, and the queue timeout never applied (each bounce restarted
    /// the wait), so clients hung. Now a refusing worker backs off, refused connections
    /// wait, and each gets its answer: 200 when a worker has room, else 503 once
    /// --queue-timeout has passed since its accept.
    @Test func refusedHandoffsAreAnsweredWithinTheQueueTimeout() throws {
        let script = "ulimit -n 40; exec '\(ServerProcess.binary)' serve --port 0 --workers 2 --queue-timeout 1s --header-timeout 30s --keepalive-timeout 30s"
        let (p, port) = try startLimited(script)
        defer { kill(p.processIdentifier, SIGTERM); p.waitUntilExit() }
        // Idle keep-alive connections fill both workers' tables.
        var idle: [TestConnection] = []
        for _ in 0..<150 { if let c = try? TestConnection(port: port, receiveTimeoutSeconds: 8) { idle.append(c) } }
        usleep(500_000)
        // Then requests that no worker has a descriptor for.
        var asking: [TestConnection] = []
        for _ in 0..<10 {
            guard let c = try? TestConnection(port: port, receiveTimeoutSeconds: 8) else { continue }
            try? c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            asking.append(c)
        }
        var statuses: [Int] = []
        for c in asking { statuses.append(c.readResponse()?.status ?? -1) }
        print("at the descriptor limit with 2 workers: \(idle.count) idle connections held; answers \(statuses)")
        #expect(!asking.isEmpty)
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 503 }, "every request is answered: \(statuses)")
    }

    /// With direct descriptors, a connection accepted when the ring's file table is full
    /// is lost: the kernel takes it off the queue, finds no slot and closes it. Under
    /// `ulimit -n 40` the table has 40 slots while --max-connections is 10,000, so the 41st
    /// client used to be reset. Now the limit stays a margin below the table: clients past
    /// it get 503, and none is reset. (Paced, 5 ms apart: a burst larger than the margin in
    /// one loop turn can still overrun the table; issue 11's descriptor flood is that case.)
    @Test(arguments: [["--workers", "0"], ["--workers", "1", "--mode", "shared"]])
    func aFullFileTableAnswers503InsteadOfResetting(_ arguments: [String]) throws {
        let script = "ulimit -n 40; exec '\(ServerProcess.binary)' serve --port 0 \(arguments.joined(separator: " ")) --header-timeout 30s"
        let (p, port) = try startLimited(script)
        defer { kill(p.processIdentifier, SIGTERM); p.waitUntilExit() }
        var clients: [TestConnection] = []
        for _ in 0..<60 {
            if let c = try? TestConnection(port: port, receiveTimeoutSeconds: 3) { clients.append(c) }
            usleep(5_000)
        }
        usleep(500_000)
        var held = 0, unavailable = 0, lost = 0
        for c in clients {
            if c.hasDataWaiting() {
                if c.readResponse()?.status == 503 { unavailable += 1 } else { lost += 1 }
            } else {
                var byte: UInt8 = 0
                let n = recv(c.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
                if n < 0 && errno == EAGAIN { held += 1 } else { lost += 1 }
            }
        }
        print("file table of 40 (\(arguments.joined(separator: " "))): \(held) held, \(unavailable) answered 503, \(lost) lost")
        #expect(clients.count == 60)
        #expect(lost == 0, "\(held) held, \(unavailable) answered 503, \(lost) reset or closed unanswered")
        #expect(unavailable > 0 && held > 0)
    }
}
