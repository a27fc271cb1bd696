import Foundation
import Glibc
import Testing

/// Two uring-cluster hosts behind HAProxy, each in its own network namespace, joined to the
/// balancer's namespace by veth pairs, with a client namespace in front:
///
///     uc-client 10.77.0.1 ── 10.77.0.2 uc-lb 10.77.1.1 ── 10.77.1.2 uc-h1
///                                            10.77.2.1 ── 10.77.2.2 uc-h2
///
/// HAProxy (Debian's package) sends PROXY v2 to both hosts and checks `/readyz` every
/// 200 ms. Under keep-alive and connection-per-request load (wrk in the client's
/// namespace), one after another: a SIGHUP rolling restart of host 1, a SIGTERM of host 2
/// with a drain delay, a start of host 2 again; then, in a load phase of its own, a
/// `kill -9` of one of host 1's workers. The first phase must have no failed request and
/// no non-2xx answer; what the kill cuts is counted and printed. The access logs must
/// name the client's address (10.77.0.1), not HAProxy's. Root only (namespaces); the
/// namespaces and every process are removed at the end, whatever happened.
@Suite(.serialized) struct MultiHostTests {
    static let namespaces = ["uc-client", "uc-lb", "uc-h1", "uc-h2"]
    static let work = FileManager.default.temporaryDirectory.appendingPathComponent("multihost-\(getpid())").path

    @discardableResult
    static func run(_ arguments: [String], allowFailure: Bool = false) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        if arguments.first != "ip" {
            p.executableURL = URL(fileURLWithPath: arguments[0])
        }
        p.arguments = Array(arguments.first == "ip" ? arguments.dropFirst() : arguments.dropFirst())
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if p.terminationStatus != 0 && !allowFailure { throw TestFailure("\(arguments.joined(separator: " ")): \(text)") }
        return text
    }

    static func ip(_ words: String, allowFailure: Bool = false) throws {
        try run(["ip"] + words.split(separator: " ").map(String.init), allowFailure: allowFailure)
    }

    static func tearDown() {
        for ns in namespaces { try? ip("netns del \(ns)", allowFailure: true) }
    }

    static func setUp() throws {
        tearDown()
        for ns in namespaces {
            try ip("netns add \(ns)")
            try ip("-n \(ns) link set lo up")
        }
        for (peer, subnet) in [("uc-client", 0), ("uc-h1", 1), ("uc-h2", 2)] {
            let lbSide = "lb\(subnet)", far = "far\(subnet)"
            try ip("link add \(lbSide) netns uc-lb type veth peer name \(far) netns \(peer)")
            try ip("-n uc-lb addr add 10.77.\(subnet).\(subnet == 0 ? 2 : 1)/24 dev \(lbSide)")
            try ip("-n \(peer) addr add 10.77.\(subnet).\(subnet == 0 ? 1 : 2)/24 dev \(far)")
            try ip("-n uc-lb link set \(lbSide) up")
            try ip("-n \(peer) link set \(far) up")
        }
    }

    /// A host: two workers, the PROXY protocol from the balancer only, a drain delay
    /// longer than HAProxy's two failed checks (400 ms).
    static func startHost(_ n: Int) throws -> ServerProcess {
        try ServerProcess(program: "/usr/sbin/ip", ["netns", "exec", "uc-h\(n)", ServerProcess.binary, "serve",
                                                    "--host", "10.77.\(n).2", "--port", "8000", "--workers", "2",
                                                    "--proxy-protocol", "--proxy-from", "10.77.\(n).1/32",
                                                    "--drain-delay", "1s", "--access-log", "\(work)/h\(n).log"])
    }

    static let haproxyConfig = """
        global
            maxconn 4096
            stats socket \(work)/haproxy.sock level admin
        defaults
            mode http
            timeout connect 2s
            timeout client 30s
            timeout server 30s
            timeout http-keep-alive 30s
            retries 3
            option redispatch
            # A request sent on a kept-alive connection the host closed at that moment (the
            # keep-alive race every server has) gets no response: it is sent again.
            retry-on conn-failure empty-response response-timeout
        frontend web
            bind 10.77.0.2:8080
            default_backend hosts
        frontend stats
            bind 10.77.0.2:8404
            stats enable
            stats uri /stats
        backend hosts
            balance roundrobin
            option httpchk GET /readyz
            http-check expect status 200
            default-server check inter 200ms fall 2 rise 2 send-proxy-v2 check-send-proxy
            server h1 10.77.1.2:8000
            server h2 10.77.2.2:8000

        """

    /// Each backend server's line of HAProxy's CSV stats, by column name.
    static func backendStats() -> [String: [String: String]] {
        guard let csv = try? run(["/usr/sbin/ip", "netns", "exec", "uc-lb", "/usr/bin/curl", "-s", "http://10.77.0.2:8404/stats;csv"],
                                 allowFailure: true) else { return [:] }
        let lines = csv.split(separator: "\n")
        guard let header = lines.first?.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false) else { return [:] }
        var out: [String: [String: String]] = [:]
        for line in lines.dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count >= header.count, f[0] == "hosts", f[1] == "h1" || f[1] == "h2" else { continue }
            out[String(f[1])] = Dictionary(uniqueKeysWithValues: zip(header.map(String.init), f.map(String.init)))
        }
        return out
    }

    /// Each backend server's status ("UP", "DOWN", ...).
    static func backendStatus() -> [String: String] {
        backendStats().compactMapValues { $0["status"] }
    }

    /// HAProxy's own count of what went wrong with host `name`'s answers: connection and
    /// response errors, and the requests it sent again (retries, redispatches).
    static func failureCounts(_ name: String) -> [String: Int] {
        let line = backendStats()[name] ?? [:]
        var out: [String: Int] = [:]
        for key in ["econ", "eresp", "wretr", "wredis"] { out[key] = Int(line[key] ?? "") ?? 0 }
        return out
    }

    static func waitFor(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return }
            usleep(20_000)
        }
        throw TestFailure("timed out waiting for \(what)")
    }

    struct WrkResult {
        var requests = 0, non2xx = 0, socketErrors = 0
        var text = ""
    }

    /// wrk in the client's namespace, for `seconds`.
    static func startLoad(seconds: Int, close: Bool) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        p.arguments = ["netns", "exec", "uc-client", "wrk", "-t1", "-c8", "-d\(seconds)s", "--timeout", "5s"]
            + (close ? ["-H", "Connection: close"] : []) + ["http://10.77.0.2:8080/"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        return (p, out)
    }

    static func finish(_ load: (Process, Pipe)) -> WrkResult {
        let text = String(decoding: load.1.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        load.0.waitUntilExit()
        var r = WrkResult(text: text)
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.contains("requests in") { r.requests = Int(line.split(separator: " ")[0]) ?? 0 }
            if line.hasPrefix("Non-2xx or 3xx responses:") { r.non2xx = Int(line.split(separator: " ").last ?? "") ?? 0 }
            if line.hasPrefix("Socket errors:") {
                // "Socket errors: connect 0, read 1, write 0, timeout 0"
                r.socketErrors = line.split(separator: ",").compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
            }
        }
        return r
    }

    static func workerPIDs(of primary: pid_t) -> [pid_t] {
        let text = (try? String(contentsOfFile: "/proc/\(primary)/task/\(primary)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { pid_t($0) }
    }

    @Test(.timeLimit(.minutes(3)))
    func twoHostsBehindHAProxyRollDrainRestartAndLoseAWorker() throws {
        guard getuid() == 0 else {
            Issue.record("network namespaces need root; run the tests as root (CI does)")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy") else {
            Issue.record("haproxy is missing: tools/setup.sh installs it")
            return
        }
        try FileManager.default.createDirectory(atPath: Self.work, withIntermediateDirectories: true)
        defer {
            Self.tearDown()
            try? FileManager.default.removeItem(atPath: Self.work)
        }
        try Self.setUp()
        var h1 = try Self.startHost(1)
        var h2 = try Self.startHost(2)
        defer { h1.stop(); h2.stop() }
        try Self.haproxyConfig.write(toFile: "\(Self.work)/haproxy.cfg", atomically: true, encoding: .utf8)
        let haproxy = Process()
        haproxy.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        haproxy.arguments = ["netns", "exec", "uc-lb", "/usr/sbin/haproxy", "-db", "-f", "\(Self.work)/haproxy.cfg"]
        let haproxyOut = Pipe()
        haproxy.standardOutput = haproxyOut
        haproxy.standardError = haproxyOut
        try haproxy.run()
        defer {
            if haproxy.isRunning { kill(haproxy.processIdentifier, SIGKILL) }
            haproxy.waitUntilExit()
        }
        try Self.waitFor("HAProxy to see both hosts up", seconds: 10) { Self.backendStatus() == ["h1": "UP", "h2": "UP"] }

        // Phase 1: a roll, a drain, a restart, with no request lost.
        let keepAlive = try Self.startLoad(seconds: 9, close: false)
        let perRequest = try Self.startLoad(seconds: 9, close: true)
        usleep(1_000_000)
        let before = Set(Self.workerPIDs(of: h1.process.processIdentifier))
        kill(h1.process.processIdentifier, SIGHUP)
        try Self.waitFor("host 1's rolling restart", seconds: 6) {
            let now = Set(Self.workerPIDs(of: h1.process.processIdentifier))
            return now.count == 2 && now.isDisjoint(with: before)
        }
        kill(h2.process.processIdentifier, SIGTERM)
        try Self.waitFor("HAProxy to take host 2 out", seconds: 3) { Self.backendStatus()["h2"]?.hasPrefix("DOWN") == true }
        try Self.waitFor("host 2 to stop", seconds: 6) { !h2.process.isRunning }
        let h2Status = h2.process.terminationStatus
        h2 = try Self.startHost(2)
        try Self.waitFor("HAProxy to put host 2 back", seconds: 5) { Self.backendStatus()["h2"] == "UP" }
        let a = Self.finish(keepAlive), b = Self.finish(perRequest)
        print("multi-host phase 1: keep-alive \(a.requests) requests, \(a.non2xx) non-2xx, \(a.socketErrors) errors; "
              + "connection per request \(b.requests) requests, \(b.non2xx) non-2xx, \(b.socketErrors) errors")
        func shown(_ counts: [String: Int]) -> String { counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
        print("multi-host phase 1, as HAProxy counts it: host 1 \(shown(Self.failureCounts("h1"))); host 2 \(shown(Self.failureCounts("h2")))")
        #expect(h2Status == 0, "host 2 did not stop cleanly")
        for r in [a, b] {
            #expect(r.requests > 0 && r.non2xx == 0 && r.socketErrors == 0, "\(r.text)")
        }

        // Phase 2: a worker of host 1 killed outright; what it cuts is counted.
        let victim = try #require(Self.workerPIDs(of: h1.process.processIdentifier).first)
        let counted = Self.failureCounts("h1")
        let keepAlive2 = try Self.startLoad(seconds: 3, close: false)
        let perRequest2 = try Self.startLoad(seconds: 3, close: true)
        usleep(1_000_000)
        kill(victim, SIGKILL)
        let c = Self.finish(keepAlive2), d = Self.finish(perRequest2)
        print("multi-host phase 2 (kill -9 of worker \(victim)): keep-alive \(c.requests) requests, \(c.non2xx) non-2xx, "
              + "\(c.socketErrors) errors; connection per request \(d.requests) requests, \(d.non2xx) non-2xx, \(d.socketErrors) errors")
        let after = Self.failureCounts("h1")
        let cut = after.map { "\($0.key) +\($0.value - (counted[$0.key] ?? 0))" }.sorted().joined(separator: ", ")
        print("multi-host phase 2: what the kill cut, as HAProxy counts it on host 1 (sent again by retry-on): \(cut)")
        #expect(c.requests > 0 && d.requests > 0)
        #expect(Self.workerPIDs(of: h1.process.processIdentifier).count == 2, "the killed worker was not replaced")

        // The hosts saw the client, not the balancer.
        h1.stop()
        h2.stop()
        for n in [1, 2] {
            let text = (try? String(contentsOfFile: "\(Self.work)/h\(n).log", encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n")
            let served = lines.filter { $0.contains("\"GET / HTTP/1.1\"") }
            #expect(!served.isEmpty, "host \(n) logged no request")
            #expect(served.allSatisfy { $0.hasPrefix("10.77.0.1 - - [") }, "host \(n): \(served.prefix(3))")
            // HAProxy's checks are LOCAL headers: they keep the balancer's own address.
            let checks = lines.filter { $0.contains("\"GET /readyz HTTP/") }
            #expect(!checks.isEmpty && checks.allSatisfy { $0.hasPrefix("10.77.\(n).1 - - [") }, "host \(n): \(checks.prefix(3))")
        }
    }
}
