import ArgumentParser
import BenchKit
import Foundation

@main
struct ClusterBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-bench",
        abstract: "Runs uring-cluster's distribution modes (and nginx, Node's cluster when installed) under wrk and writes a report.",
        discussion: """
        For each round, every configuration runs every scenario, in the same order each round
        (A B C, A B C, ...); each configuration's server is started fresh per round and stopped
        cleanly after. Results go to OUTPUT/<timestamp>/: results.json, report.md and SVG charts.
        Load goes to 127.0.0.1 only and every wrk run is bounded by --duration.

        Scenarios: keepalive (GET / on persistent connections), churn (Connection: close: a new
        connection per request), skewed (5% of requests are /burn?us=2000, the rest GET /),
        connections (--many-connections concurrent keep-alive connections), heavy-tail (the
        cheap GET / with Connection: close, measured while a second wrk keeps 4 connections
        looping on /burn?us=20000: what load-aware balancing is for; not in the default list),
        pipelined (16 GET / per write on keep-alive connections; not in the default list).

        With --pinned, servers run on the last CPU and wrk on CPU 0, and the report leads with
        the server's CPU per request, which ranks servers where wrk is the bottleneck.
        """
    )

    @Option(help: "Worker counts, comma-separated.")
    var workers = "2,8"

    @Option(help: "uring-cluster modes, comma-separated (round-robin, shared, reuseport).")
    var modes = "round-robin,shared,reuseport"

    @Option(help: "Balance policies for round-robin mode, comma-separated.")
    var balances = "load-aware,round-robin,least-connections,p2c,ip-hash"

    @Option(help: "Scenarios, comma-separated (keepalive, churn, skewed, connections, heavy-tail, pipelined).")
    var scenarios = "keepalive,churn,skewed,connections"

    @Option(help: "Rounds; medians are taken over them.")
    var rounds = 3

    @Option(help: "Seconds per wrk run.")
    var duration = 5

    @Option(help: "Concurrent connections for keepalive, churn and skewed.")
    var connections = 64

    @Option(help: "Concurrent connections for the connections scenario.")
    var manyConnections = 2000

    @Option(help: "CPUs for the servers (taskset list, e.g. 1 or 2-7); default: no pinning.")
    var serverCpus: String?

    @Option(help: "CPUs for wrk (taskset list); default: no pinning.")
    var clientCpus: String?

    @Flag(help: "The pinned preset: servers on the last CPU and wrk on CPU 0 (taskset), so that the server's CPU per request, the report's headline, is not shared with the load generator. Sets --server-cpus and --client-cpus.")
    var pinned = false

    @Flag(help: "Leave out nginx and Node's cluster even when installed.")
    var noPeers = false

    @Flag(help: "A short smoke run (well under a minute): 1 round of 1 s, 2 workers, every mode once (load-aware balance), keepalive and churn.")
    var quick = false

    @Option(help: "The uring-cluster binary.")
    var binary = ".build/release/uring-cluster"

    @Option(help: "Where result folders go.")
    var output = "bench-results"

    @Option(help: "Run nothing: write report.md and the charts again from this results.json (into its folder).")
    var reportFrom: String?

    func validate() throws {
        if reportFrom != nil { return }
        guard rounds >= 1, duration >= 1, connections >= 1, manyConnections >= 1 else {
            throw ValidationError("--rounds, --duration and the connection counts must be at least 1")
        }
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("\(binary) is not an executable: build it (swift build -c release) or give --binary")
        }
        if pinned {
            guard serverCpus == nil && clientCpus == nil else {
                throw ValidationError("--pinned sets the CPUs itself: give either it or --server-cpus/--client-cpus")
            }
            guard ProcessInfo.processInfo.activeProcessorCount >= 2 else {
                throw ValidationError("--pinned needs at least 2 CPUs (this machine has 1)")
            }
        }
        guard Tools.which("wrk") != nil else { throw ValidationError("wrk is not installed (make setup installs it)") }
        for s in list(scenarios) where !Scenario.known.contains(s) {
            throw ValidationError("unknown scenario \(s); known: \(Scenario.known.joined(separator: ", "))")
        }
    }

    func list(_ s: String) -> [String] { s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func run() throws {
        if let reportFrom {
            let url = URL(fileURLWithPath: reportFrom)
            let document = try JSONDecoder().decode(ResultsDocument.self, from: Data(contentsOf: url))
            let files = try ReportWriter(machine: document.machine, method: document.method, notes: document.notes ?? [])
                .write(document.results, to: url.deletingLastPathComponent())
            print("wrote \(url.deletingLastPathComponent().path)/ (\(files.joined(separator: ", ")))")
            return
        }
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        var plan = Plan(binary: binary, rounds: rounds, duration: duration, connections: connections,
                        manyConnections: manyConnections,
                        serverCpus: pinned ? String(cpus - 1) : serverCpus, clientCpus: pinned ? "0" : clientCpus)
        var workerCounts = list(workers).compactMap(Int.init)
        var modeList = list(modes)
        var balanceList = list(balances)
        var scenarioList = list(scenarios)
        if quick {
            plan.rounds = 1
            plan.duration = 1
            workerCounts = [2]
            modeList = ["round-robin", "shared", "reuseport"]
            balanceList = ["load-aware"]
            scenarioList = ["keepalive", "churn"]
        }
        var notes: [String] = []
        var targets: [BenchTarget] = []
        for w in workerCounts {
            for mode in modeList {
                if mode == "round-robin" {
                    for b in balanceList { targets.append(BenchTarget(target: "uring-cluster", mode: mode, balance: b, workers: w)) }
                } else {
                    targets.append(BenchTarget(target: "uring-cluster", mode: mode, balance: "-", workers: w))
                }
            }
            if !noPeers && !quick {
                if Tools.nginx != nil {
                    targets.append(BenchTarget(target: "nginx", mode: "-", balance: "-", workers: w))
                    targets.append(BenchTarget(target: "nginx-reuseport", mode: "-", balance: "-", workers: w))
                } else if w == workerCounts.first {
                    notes.append("nginx is not installed: skipped (apt-get install nginx-light to compare)")
                }
                if Tools.which("node") != nil {
                    targets.append(BenchTarget(target: "node-cluster", mode: "-", balance: "-", workers: w))
                } else if w == workerCounts.first {
                    notes.append("node is not installed: Node's cluster skipped")
                }
            }
        }
        if targets.contains(where: { $0.target.hasPrefix("nginx") }) && (scenarioList.contains("skewed") || scenarioList.contains("heavy-tail")) {
            notes.append("nginx has no /burn: it is left out of the skewed and heavy-tail scenarios")
        }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "-")
        let directory = URL(fileURLWithPath: output).appendingPathComponent(stamp)
        let runner = Runner(plan: plan)
        let results = try runner.run(targets: targets, scenarios: scenarioList.compactMap(Scenario.init))
        let writer = ReportWriter(machine: Tools.machine(), method: plan.method(scenarios: scenarioList), notes: notes)
        let files = try writer.write(results, to: directory)
        print("wrote \(directory.path)/ (\(files.joined(separator: ", ")))")
    }
}
