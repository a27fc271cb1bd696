import BenchKit
import Foundation
import Glibc

/// Runs the plan: rounds × targets × scenarios, in that order, with a progress line.
struct Runner {
    let plan: Plan

    func run(targets: [BenchTarget], scenarios: [Scenario]) throws -> [BenchResult] {
        var results: [BenchResult] = []
        let total = plan.rounds * targets.reduce(0) { n, t in n + scenarios.filter { $0.supports(t) }.count }
        var done = 0
        for round in 1...plan.rounds {
            for target in targets {
                let server = try ServerUnderTest(target, plan: plan)
                defer { server.stop() }
                for scenario in scenarios where scenario.supports(target) {
                    done += 1
                    let result = try measure(server, scenario, round: round)
                    results.append(result)
                    let label = target.label.padding(toLength: 26, withPad: " ", startingAt: 0)
                    let name = scenario.name.padding(toLength: 11, withPad: " ", startingAt: 0)
                    let line = "[\(done)/\(total)] round \(round)/\(plan.rounds)  \(label) \(name) "
                        + String(format: "%9.0f req/s  p99 %7.2f ms  errors %d", result.requestsPerSec, result.latencyMs.p99, result.errors)
                    FileHandle.standardError.write(Data((line + "\n").utf8))
                }
            }
        }
        return results
    }

    func measure(_ server: ServerUnderTest, _ scenario: Scenario, round: Int) throws -> BenchResult {
        let isUring = server.target.target == "uring-cluster"
        let before = isUring ? try? StatsClient.fetch(port: server.port) : nil
        let pids = server.pids
        let cpu0 = pids.map(ProcStat.cpuSeconds).reduce(0, +)
        let primary0 = ProcStat.cpuSeconds(server.primaryPID)
        let wrk = try runWrk(port: server.port, scenario: scenario)
        let after = isUring ? try? StatsClient.fetch(port: server.port) : nil
        let pidsAfter = server.pids
        // Workers that were replaced during the run are counted from their start.
        let cpu1 = pidsAfter.map(ProcStat.cpuSeconds).reduce(0, +)
        let primary1 = ProcStat.cpuSeconds(server.primaryPID)
        let rss = pidsAfter.compactMap(ProcStat.peakRSSKilobytes).reduce(0, +)
        var connections: [Int]? = nil
        var requests: [Int]? = nil
        if let before, let after {
            connections = after.map { a in a.connections - (before.first { $0.id == a.id }?.connections ?? 0) }
            requests = after.map { a in a.requests - (before.first { $0.id == a.id }?.requests ?? 0) }
        }
        return BenchResult(target: server.target, scenario: scenario.name, round: round, wrk: wrk,
                           perWorkerConnections: connections, perWorkerRequests: requests,
                           cpuSeconds: max(0, cpu1 - cpu0), primaryCpuSeconds: max(0, primary1 - primary0),
                           peakRssKb: rss)
    }

    func runWrk(port: Int, scenario: Scenario) throws -> WrkReport {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-bench-\(getpid())-\(scenario.name).lua")
        try scenario.script().write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        // The background load (heavy-tail) starts first, so the measured run sees it throughout;
        // it runs a second longer and is stopped with the measured one.
        var background: Process? = nil
        if let (path, connections) = scenario.background {
            let b = wrkProcess(threads: 1, connections: connections, seconds: plan.duration + 1,
                               script: script.path, url: "http://127.0.0.1:\(port)\(path)")
            b.standardOutput = FileHandle.nullDevice
            try b.run()
            background = b
            usleep(200_000)
        }
        defer {
            if let background {
                if background.isRunning { background.terminate() }
                background.waitUntilExit()
            }
        }
        let p = wrkProcess(threads: scenario.threads(plan), connections: scenario.connections(plan), seconds: plan.duration,
                           script: script.path, url: "http://127.0.0.1:\(port)/")
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        // Bounded: wrk stops itself after -d; a hung wrk is killed well after.
        let deadline = Date().addingTimeInterval(Double(plan.duration) + 30)
        let reader = out.fileHandleForReading
        var data = Data()
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            data.append(chunk)
            if Date() > deadline { p.terminate(); break }
        }
        p.waitUntilExit()
        return try WrkReport.parse(String(decoding: data, as: UTF8.self))
    }

    /// A wrk run, pinned to the client CPUs when the plan says so; standard error discarded.
    func wrkProcess(threads: Int, connections: Int, seconds: Int, script: String, url: String) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let pin = plan.clientCpus.map { ["taskset", "-c", $0] } ?? []
        p.arguments = pin + ["wrk", "-t\(threads)", "-c\(connections)", "-d\(seconds)s",
                             "--timeout", "10s", "-s", script, url]
        p.standardError = FileHandle.nullDevice
        return p
    }
}

/// /stats of uring-cluster, per worker.
enum StatsClient {
    struct Worker: Decodable {
        let id: Int
        let connections: Int
        let requests: Int
    }
    struct Document: Decodable { let workers: [Worker] }

    static func fetch(port: Int) throws -> [Worker] {
        guard let fd = connectLoopback(port: port) else { throw BenchError("connect to /stats failed") }
        defer { close(fd) }
        let request = Array("GET /stats HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let body = text.range(of: "\r\n\r\n").map({ text[$0.upperBound...] }) else { throw BenchError("bad /stats response") }
        return try JSONDecoder().decode(Document.self, from: Data(body.utf8)).workers
    }
}

/// CPU time and memory of a process, from /proc.
enum ProcStat {
    static let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let f = stat[stat.index(after: close)...].split(separator: " ")
        guard f.count > 13 else { return 0 }
        return ((Double(f[11]) ?? 0) + (Double(f[12]) ?? 0)) / ticks
    }

    static func peakRSSKilobytes(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }
}
