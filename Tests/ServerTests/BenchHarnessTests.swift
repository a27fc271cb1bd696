import Foundation
import Glibc
import Testing

/// `cluster-bench --quick` end to end: real servers, real wrk, the files it promises.
@Suite struct BenchHarnessTests {
    @Test func quickRunWritesAReportWithNumbersForEveryMode() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("bench-test-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: output) }
        let (status, stdout, stderr) = try runProduct("cluster-bench", ["--quick", "--binary", ServerProcess.binary, "--output", output.path],
                                                     timeoutSeconds: 120)
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains("[6/6]"), "progress lines: \(stderr)")
        let folders = try FileManager.default.contentsOfDirectory(atPath: output.path)
        #expect(folders.count == 1)
        let dir = output.appendingPathComponent(try #require(folders.first))
        #expect(stdout.contains(dir.lastPathComponent))
        for file in ["results.json", "report.md", "throughput-keepalive.svg", "latency-churn.svg", "distribution-churn.svg"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), "\(file) missing")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("results.json"))) as? [String: Any])
        let results = try #require(json["results"] as? [[String: Any]])
        #expect(results.count == 6)
        for mode in ["round-robin", "shared", "reuseport"] {
            for scenario in ["keepalive", "churn"] {
                let run = results.first { $0["mode"] as? String == mode && $0["scenario"] as? String == scenario }
                #expect(run != nil, "\(mode) \(scenario) missing")
                #expect((run?["requests_per_sec"] as? Double ?? 0) > 0, "\(mode) \(scenario)")
                #expect((run?["per_worker_connections"] as? [Int])?.count == 2)
                #expect(run?["jain"] is Double)
                #expect(run?["cpu_us_per_request"] is Double)
                #expect((run?["latency_ms"] as? [String: Double])?["p99"] != nil)
            }
        }
        let machine = try #require(json["machine"] as? [String: String])
        #expect(machine["cpus"] != nil && machine["kernel"] != nil && machine["cpu model"] != nil)
        let report = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(report.contains("| rr/load-aware ×2 |"))
        #expect(report.contains("![throughput](throughput-churn.svg)"))
    }

    /// heavy-tail measures the cheap requests while a second wrk keeps /burn requests going:
    /// the server sees more connections than the measured wrk made.
    @Test func heavyTailRunsItsBackgroundBesideTheMeasuredLoad() throws {
        let (json, dir) = try benchRun(["--workers", "2", "--modes", "round-robin", "--balances", "load-aware",
                                        "--scenarios", "heavy-tail", "--duration", "2", "--connections", "8"])
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        let run = try #require((json["results"] as? [[String: Any]])?.first { $0["scenario"] as? String == "heavy-tail" })
        let measured = (run["requests_per_sec"] as? Double ?? 0) * 2
        let served = (run["per_worker_connections"] as? [Int] ?? []).reduce(0, +)
        #expect(measured > 0)
        #expect(Double(served) > measured + 50, "served \(served) connections, the measured wrk \(measured)")
        let report = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(report.contains("## Scenario `heavy-tail`"))
    }

    /// pipelined under the pinned preset: 16 requests per write all answered, the CPUs
    /// recorded in the method, and CPU per request charted as the headline.
    @Test func pipelinedRunsPinnedAndLeadsWithCPUPerRequest() throws {
        let (json, dir) = try benchRun(["--workers", "1", "--modes", "reuseport", "--scenarios", "pipelined",
                                        "--duration", "1", "--connections", "4", "--pinned"])
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        let run = try #require((json["results"] as? [[String: Any]])?.first { $0["scenario"] as? String == "pipelined" })
        #expect((run["requests_per_sec"] as? Double ?? 0) > 0)
        #expect(run["cpu_us_per_request"] is Double)
        let errors = try #require(run["errors"] as? Int)
        #expect(errors == 0, "pipelined requests failed: \(run)")
        let method = try #require(json["method"] as? [String])
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        #expect(method.contains("CPU pinning: servers \(cpus - 1), wrk 0"), "\(method)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("cpu-pipelined.svg").path))
        let report = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(report.contains("| configuration | µs CPU/req |"))
    }

    /// One round of cluster-bench with `arguments` (and no peers): its results.json and the
    /// folder it wrote, inside a temporary folder the caller removes.
    func benchRun(_ arguments: [String]) throws -> (json: [String: Any], dir: URL) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("bench-test-\(UUID().uuidString.prefix(8))")
        let (status, _, stderr) = try runProduct("cluster-bench", ["--binary", ServerProcess.binary, "--output", output.path,
                                                                  "--rounds", "1", "--no-peers"] + arguments, timeoutSeconds: 60)
        #expect(status == 0, "\(stderr)")
        let folders = try FileManager.default.contentsOfDirectory(atPath: output.path)
        let dir = output.appendingPathComponent(try #require(folders.first))
        let data = try Data(contentsOf: dir.appendingPathComponent("results.json"))
        return (try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]), dir)
    }

    @Test func badArgumentsAreRefusedWithAMessage() throws {
        let (status, _, stderr) = try runProduct("cluster-bench", ["--binary", "/nonexistent"], timeoutSeconds: 20)
        #expect(status != 0)
        #expect(stderr.contains("not an executable"))
        let (status2, _, stderr2) = try runProduct("cluster-bench", ["--binary", ServerProcess.binary, "--scenarios", "nope"], timeoutSeconds: 20)
        #expect(status2 != 0)
        #expect(stderr2.contains("unknown scenario"))
        let (status3, _, stderr3) = try runProduct("cluster-bench", ["--binary", ServerProcess.binary, "--pinned", "--server-cpus", "1"], timeoutSeconds: 20)
        #expect(status3 != 0)
        #expect(stderr3.contains("--pinned sets the CPUs itself"))
    }
}

/// Runs a product of this package to completion, bounded in time. Output goes to files,
/// so a chatty child never blocks on a full pipe.
func runProduct(_ name: String, _ arguments: [String], timeoutSeconds: Double) throws -> (status: Int32, stdout: String, stderr: String) {
    let dir = FileManager.default.temporaryDirectory
    let outURL = dir.appendingPathComponent("product-\(UUID().uuidString).out")
    let errURL = dir.appendingPathComponent("product-\(UUID().uuidString).err")
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: ServerProcess.product(name))
    p.arguments = arguments
    p.standardOutput = try FileHandle(forWritingTo: outURL)
    p.standardError = try FileHandle(forWritingTo: errURL)
    try p.run()
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while p.isRunning && Date() < deadline { usleep(20_000) }
    if p.isRunning { p.terminate() }
    p.waitUntilExit()
    return (p.terminationStatus, (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
            (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
}
