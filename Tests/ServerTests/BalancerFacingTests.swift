import Foundation
import Glibc
import HTTP1
import Testing
import WebTesting

/// What a load balancer in front sees and sends: the PROXY protocol (v1 and v2, the real
/// client in the access log and in ip-hash), the health paths, the drain delay, the access
/// log and its reopen, and /metrics in a form a Prometheus parser takes. Real processes,
/// real sockets on loopback, real signals.
@Suite(.serialized) struct BalancerFacingTests {
    static let v1Header = "PROXY TCP4 192.0.2.7 10.0.0.1 50000 443\r\n"

    static func v2Header(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16, tlvs: [UInt8] = []) -> [UInt8] {
        let block: [UInt8] = [a, b, c, d, 10, 0, 0, 1, UInt8(port >> 8), UInt8(port & 0xFF), 0x01, 0xBB]
        let length = block.count + tlvs.count
        return [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11,
                UInt8(length >> 8), UInt8(length & 0xFF)] + block + tlvs
    }

    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("balancer-\(getpid())-\(name)").path
    }

    /// The log's lines, once `count` are there (lines are written at the end of a loop turn).
    static func logLines(_ path: String, atLeast count: Int) -> [String] {
        var lines: [String] = []
        for _ in 0..<300 {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n").map(String.init)
            if lines.count >= count { break }
            usleep(10_000)
        }
        return lines
    }

    static func request(_ port: Int, prefix: [UInt8], _ path: String = "/") throws -> TestResponse? {
        let c = try TestClient(port: port)
        try c.send(prefix + Array("GET \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8))
        return c.readResponse()
    }

    @Test func proxyHeadersNameTheClientInTheAccessLogAndBadOnesAreClosedAndCounted() throws {
        let log = Self.temporaryPath("proxy.log")
        defer { unlink(log) }
        let server = try ServerProcess(["--workers", "0", "--proxy-protocol", "--access-log", log])
        defer { server.stop() }
        #expect(try Self.request(server.port, prefix: Array(Self.v1Header.utf8))?.status == 200)
        #expect(try Self.request(server.port, prefix: Self.v2Header(198, 51, 100, 9, port: 4242, tlvs: [0x05, 0x00, 0x02, 0x61, 0x62]),
                                 "/echo?x=\"1\"")?.status == 405)
        // v2 LOCAL (a balancer's own check): the peer stands.
        let local: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00]
        #expect(try Self.request(server.port, prefix: local, "/healthz")?.status == 200)
        // No header, a broken one, a v2 header declaring more than the bound: closed, unanswered.
        for prefix in [[], Array("PROXY TCP4 192.0.2.7 10.0.0.1 50000\r\n".utf8), [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0xFF, 0xFF]] as [[UInt8]] {
            let c = try TestClient(port: server.port)
            try c.send(prefix + Array("GET / HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
            #expect(c.readResponse() == nil, "answered without a valid header: \(prefix)")
            #expect(c.isClosedByServer())
        }
        let metrics = try #require(try Self.request(server.port, prefix: Array(Self.v1Header.utf8), "/metrics"))
        #expect(metrics.text.contains("uring_cluster_proxy_rejects_total{worker=\"0\",pid=\"\(server.process.processIdentifier)\"} 3"), "\(metrics.text)")
        let lines = Self.logLines(log, atLeast: 4)
        #expect(lines.count == 4, "\(lines)")
        #expect(lines.first?.hasPrefix("192.0.2.7 - - [") == true, "\(lines)")
        #expect(lines.first?.contains("\"GET / HTTP/1.1\" 200 12 ") == true, "\(lines)")
        #expect(lines.dropFirst().first?.hasPrefix("198.51.100.9 - - [") == true, "\(lines)")
        #expect(lines.dropFirst().first?.contains("\"GET /echo?x=\\\"1\\\" HTTP/1.1\" 405 ") == true, "quotes escaped: \(lines)")
        #expect(lines.dropFirst(2).first?.hasPrefix("127.0.0.1 - - [") == true, "LOCAL keeps the peer: \(lines)")
    }

    @Test func aPeerOutsideProxyFromIsClosedBeforeItsHeaderIsRead() throws {
        let server = try ServerProcess(["--workers", "0", "--proxy-protocol", "--proxy-from", "10.0.0.0/8,::1"])
        defer { server.stop() }
        let c = try TestClient(port: server.port)
        try c.send(Array(Self.v1Header.utf8) + Array("GET / HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
        #expect(c.readResponse() == nil)
        // Trusted: loopback is.
        let trusted = try ServerProcess(["--workers", "0", "--proxy-protocol", "--proxy-from", "127.0.0.0/8"])
        defer { trusted.stop() }
        #expect(try Self.request(trusted.port, prefix: Array(Self.v1Header.utf8))?.status == 200)
    }

    @Test func badProxyFlagsAreOneLine() throws {
        for args in [["--proxy-from", "10.0.0.0/8"], ["--proxy-protocol", "--proxy-from", "10.0.0.0/33"],
                     ["--proxy-protocol", "--proxy-from", "10.0.0.0/8,"], ["--health-path", "healthz"],
                     ["--ready-path", "/healthz"], ["--access-log", ""]] {
            let (status, _, stderr) = try runBinary(["serve", "--port", "0"] + args)
            #expect(status == 64, "\(args)")
            expectOneErrorLine(stderr, naming: args[args.count - 2])
        }
    }

    /// ip-hash in round-robin mode: the primary peeks at the header (leaving it for the
    /// worker), so one client behind the balancer always reaches the same worker.
    @Test func ipHashFollowsTheProxiedClientNotTheBalancer() throws {
        let log = Self.temporaryPath("iphash.log")
        defer { unlink(log) }
        let server = try ServerProcess(["--workers", "2", "--balance", "ip-hash", "--proxy-protocol",
                                        "--access-log", log, "--access-log-format", "json"])
        defer { server.stop() }
        let clients: [(UInt8, UInt8)] = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)]
        for _ in 0..<4 {
            for (a, b) in clients {
                #expect(try Self.request(server.port, prefix: Self.v2Header(203, 0, a, b, port: 1000))?.status == 200)
            }
        }
        let lines = Self.logLines(log, atLeast: 24)
        #expect(lines.count == 24)
        var workerOf: [String: Set<Int>] = [:]
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            let client = try #require(object["client"] as? String)
            workerOf[client, default: []].insert(try #require(object["worker"] as? Int))
            #expect(object["status"] as? Int == 200 && object["method"] as? String == "GET" && object["target"] as? String == "/")
        }
        #expect(Set(workerOf.keys) == Set(clients.map { "203.0.\($0.0).\($0.1)" }), "\(workerOf)")
        #expect(workerOf.values.allSatisfy { $0.count == 1 }, "a client reached two workers: \(workerOf)")
        #expect(Set(workerOf.values.flatMap { $0 }).count == 2, "six clients all hashed to one worker: \(workerOf)")
        // A bad header is closed by the primary, before any worker, and counted there.
        let c = try TestClient(port: server.port)
        try c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(c.readResponse() == nil)
        let metrics = try #require(try Self.request(server.port, prefix: Array(Self.v1Header.utf8), "/metrics"))
        #expect(metrics.text.contains("uring_cluster_primary_proxy_rejects_total 1"), "\(metrics.text)")
    }

    @Test func healthPathsAreAnsweredBeforeTheHandlerAndCanBeMovedOrTurnedOff() throws {
        let server = try ServerProcess(["--workers", "2", "--health-path", "/live", "--ready-path", "off"])
        defer { server.stop() }
        #expect(try fetch(server.port, "GET /live HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        #expect(try fetch(server.port, "HEAD /live HTTP/1.1\r\nHost: t\r\n\r\n", isHead: true).status == 200)
        #expect(try fetch(server.port, "POST /live HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").status == 405)
        // Off: the path goes to the handler, which knows no such route.
        #expect(try fetch(server.port, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n").status == 404)
        #expect(try fetch(server.port, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").status == 404)
        let defaults = try ServerProcess(["--workers", "2", "--mode", "shared"])
        defer { defaults.stop() }
        let ready = try fetch(defaults.port, "GET /readyz?probe=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(ready.status == 200 && ready.text == "ready\n" && ready.header("cache-control") == "no-store")
    }

    /// SIGTERM with a drain delay: readiness turns 503 at once while requests, new
    /// connections included, are still served; then the usual graceful stop.
    @Test(arguments: [["--workers", "2"], ["--workers", "0"]])
    func aDrainDelayTurnsReadinessOffWhileServingGoesOn(workers: [String]) throws {
        let server = try ServerProcess(workers + ["--drain-delay", "1500ms"])
        defer { server.stop() }
        let keptAlive = try TestClient(port: server.port)
        try keptAlive.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(keptAlive.readResponse()?.status == 200)
        #expect(try fetch(server.port, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        let signalled = Date()
        kill(server.process.processIdentifier, SIGTERM)
        var notReady = false
        for _ in 0..<100 {
            if try fetch(server.port, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n").status == 503 { notReady = true; break }
            usleep(5_000)
        }
        #expect(notReady, "readiness still 200 after SIGTERM")
        // Still serving, on new connections and on the kept-alive one (which stays open).
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        try keptAlive.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        let during = keptAlive.readResponse()
        #expect(during?.status == 200 && during?.header("connection") == nil, "closing during the delay")
        #expect(Date().timeIntervalSince(signalled) < 1.5, "the checks took longer than the delay; nothing was shown")
        for _ in 0..<1000 where server.process.isRunning { usleep(10_000) }
        #expect(!server.process.isRunning)
        #expect(server.process.terminationStatus == 0)
        #expect(Date().timeIntervalSince(signalled) >= 1.5, "stopped before the delay was over")
    }

    /// The worker pids /stats reports.
    static func workerPIDs(_ port: Int) throws -> Set<Int> {
        let text = try fetch(port, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n").text
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        let workers = object?["workers"] as? [[String: Any]] ?? []
        return Set(workers.compactMap { $0["pid"] as? Int })
    }

    /// A stop signal to the whole process group (Ctrl-C, systemd's KillMode=control-group)
    /// reaches the workers too: during the drain delay none of them is replaced, and the
    /// stop is clean.
    @Test func aGroupSignalDuringTheDrainDelayReplacesNoWorker() throws {
        // Its own process group, led by the primary (perl's setpgrp, then exec: the same pid).
        let server = try ServerProcess(program: "/usr/bin/perl", ["-e", "setpgrp(0, 0); exec @ARGV or die", "--",
                                                                  ServerProcess.binary, "serve", "--port", "0",
                                                                  "--workers", "2", "--drain-delay", "1s"])
        defer { server.stop() }
        let primary = server.process.processIdentifier
        #expect(getpgid(primary) == primary, "not a process group of its own: the signal below would reach others")
        guard getpgid(primary) == primary else { return }
        func children() -> Set<Int> {
            let text = (try? String(contentsOfFile: "/proc/\(primary)/task/\(primary)/children", encoding: .utf8)) ?? ""
            return Set(text.split(separator: " ").compactMap { Int($0) })
        }
        let before = children()
        #expect(before.count == 2)
        kill(-primary, SIGTERM)
        var seen: Set<Int> = []
        for _ in 0..<60 {
            seen.formUnion(children())
            usleep(10_000)
        }
        #expect(seen == before, "workers were started during the drain delay: \(seen.subtracting(before))")
        #expect(try fetch(server.port, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n").status == 503)
        for _ in 0..<1000 where server.process.isRunning { usleep(10_000) }
        #expect(!server.process.isRunning && server.process.terminationStatus == 0)
    }

    /// A SIGHUP roll replaces every worker, and readiness answers 200 all along.
    @Test func readinessStaysReadyThroughARollingRestart() throws {
        let server = try ServerProcess(["--workers", "2"])
        defer { server.stop() }
        let before = try Self.workerPIDs(server.port)
        #expect(before.count == 2)
        kill(server.process.processIdentifier, SIGHUP)
        var statuses: [Int] = []
        var rolled = false
        for _ in 0..<1000 {
            statuses.append(try fetch(server.port, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n").status)
            let now = try Self.workerPIDs(server.port)
            if now.count == 2 && now.isDisjoint(with: before) { rolled = true; break }
            usleep(5_000)
        }
        #expect(rolled, "the roll did not finish: \(before)")
        #expect(statuses.count > 1 && statuses.allSatisfy { $0 == 200 }, "\(statuses)")
    }

    /// SIGUSR1 reopens the file, as logrotate's postrotate expects; the cluster sends it on
    /// to every worker.
    @Test func sigusr1ReopensTheAccessLog() throws {
        let log = Self.temporaryPath("rotate.log")
        defer { unlink(log); unlink(log + ".1") }
        let server = try ServerProcess(["--workers", "2", "--mode", "shared", "--access-log", log])
        defer { server.stop() }
        for _ in 0..<4 { #expect(try fetch(server.port, "GET /?before HTTP/1.1\r\nHost: t\r\n\r\n").status == 200) }
        #expect(Self.logLines(log, atLeast: 4).count == 4)
        #expect(rename(log, log + ".1") == 0)
        kill(server.process.processIdentifier, SIGUSR1)
        // Each worker reopens on its next turn; until then its lines go to the old file.
        var after: [String] = []
        for _ in 0..<200 {
            _ = try fetch(server.port, "GET /?after HTTP/1.1\r\nHost: t\r\n\r\n")
            after = Self.logLines(log, atLeast: 0)
            if after.count >= 4 { break }
            usleep(20_000)
        }
        #expect(after.count >= 4 && after.allSatisfy { $0.contains("/?after") }, "\(after)")
        #expect(Self.logLines(log + ".1", atLeast: 4).filter { $0.contains("/?before") }.count == 4)
        #expect(server.process.isRunning, "SIGUSR1 killed the server")
        #expect(try fetch(server.port, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n").text.components(separatedBy: "\"restarts\":0").count == 3,
                "a worker died on SIGUSR1")
    }
}
