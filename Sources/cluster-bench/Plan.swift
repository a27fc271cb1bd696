import BenchKit
import Foundation
import Glibc

/// A scenario: what wrk sends.
struct Scenario {
    static let known = ["keepalive", "churn", "skewed", "connections", "heavy-tail", "pipelined"]
    /// pipelined: requests per write.
    static let pipelineDepth = 16
    /// heavy-tail: the expensive background that runs beside the measured cheap requests.
    static let heavyTailPath = "/burn?us=20000"
    static let heavyTailConnections = 4
    let name: String

    init?(_ name: String) {
        guard Self.known.contains(name) else { return nil }
        self.name = name
    }

    func script() -> String {
        switch name {
        case "churn", "heavy-tail": return WrkReport.luaScript(headers: ["Connection": "close"])
        case "skewed": return WrkReport.luaScript(heavyPath: "/burn?us=2000", heavyShare: 0.05)
        case "pipelined": return WrkReport.luaScript(pipeline: Self.pipelineDepth)
        default: return WrkReport.luaScript()
        }
    }

    func connections(_ plan: Plan) -> Int { name == "connections" ? plan.manyConnections : plan.connections }
    func threads(_ plan: Plan) -> Int { name == "connections" ? 2 : 1 }

    /// A second wrk, run beside the measured one for the same duration, whose results are
    /// not part of the scenario's: heavy-tail's expensive requests, each on a new connection.
    var background: (path: String, connections: Int)? {
        name == "heavy-tail" ? (Self.heavyTailPath, Self.heavyTailConnections) : nil
    }

    /// nginx answers only hello world: no /burn for the skewed and heavy-tail scenarios.
    func supports(_ target: BenchTarget) -> Bool {
        !((name == "skewed" || name == "heavy-tail") && target.target.hasPrefix("nginx"))
    }
}

struct Plan {
    var binary: String
    var rounds: Int
    var duration: Int
    var connections: Int
    var manyConnections: Int
    var serverCpus: String?
    var clientCpus: String?

    func method(scenarios: [String]) -> [String] {
        [
            "\(rounds) round(s); in each, every configuration runs every scenario in the same order (interleaved rounds); medians over rounds, min–max in brackets",
            "wrk -t1 -c\(connections) -d\(duration)s per run (connections scenario: -t2 -c\(manyConnections)); results from a wrk Lua done() script that prints JSON",
            "scenarios: \(scenarios.joined(separator: ", ")) (skewed: 5% of requests are /burn?us=2000; pipelined: \(Scenario.pipelineDepth) GET / per write on keep-alive connections; heavy-tail: the figures are those of the cheap GET / with Connection: close, while a second wrk keeps \(Scenario.heavyTailConnections) connections looping on \(Scenario.heavyTailPath) with Connection: close; its CPU counts in CPU per request)",
            "server CPU per request: utime+stime of the primary and all workers from /proc over the run, divided by requests; primary CPU: the primary's share of it",
            "connections per worker: /stats before and after each run (uring-cluster only), summed over rounds; Jain's index and the busiest two workers' share from them",
            "peak RSS: VmHWM summed over the server's processes at the end of each run",
            "CPU pinning: servers \(serverCpus ?? "not pinned"), wrk \(clientCpus ?? "not pinned")",
            "target 127.0.0.1 only",
        ]
    }
}

enum Tools {
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let dirs: [String] = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        for dir in dirs where access("\(dir)/\(name)", X_OK) == 0 {
            return "\(dir)/\(name)"
        }
        return nil
    }

    static var nginx: String? { which("nginx") }

    static func output(_ arguments: [String]) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        guard (try? p.run()) != nil else { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func machine() -> [String: String] {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
        var m = [
            "cpus": String(ProcessInfo.processInfo.activeProcessorCount),
            "cpu model": model,
            "kernel": output(["uname", "-r"]),
            "date": ISO8601DateFormatter().string(from: Date()),
            "wrk": output(["wrk", "-v"]).split(separator: "\n").first.map(String.init) ?? "",
        ]
        if nginx != nil { m["nginx"] = output(["nginx", "-v"]) }
        if which("node") != nil { m["node"] = output(["node", "--version"]) }
        return m
    }
}
