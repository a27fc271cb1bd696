/// Latency percentiles and the maximum, in one unit (wrk reports µs, results use ms).
public struct LatencyPercentiles: Codable, Equatable, Sendable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    public init(p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
    }

    /// Each value divided by `divisor` (µs to ms: 1000).
    public func scaled(by divisor: Double) -> LatencyPercentiles {
        LatencyPercentiles(p50: p50 / divisor, p90: p90 / divisor, p99: p99 / divisor, p999: p999 / divisor, max: max / divisor)
    }
}

/// One configuration the harness runs: who serves, and how.
public struct BenchTarget: Codable, Hashable, Sendable {
    /// "uring-cluster", "nginx", "nginx-reuseport" or "node-cluster".
    public var target: String
    public var mode: String
    public var balance: String
    public var workers: Int

    public init(target: String, mode: String, balance: String, workers: Int) {
        self.target = target
        self.mode = mode
        self.balance = balance
        self.workers = workers
    }

    /// A short label for tables and charts.
    public var label: String {
        switch target {
        case "uring-cluster":
            return mode == "round-robin" ? "rr/\(balance) ×\(workers)" : "\(mode) ×\(workers)"
        default:
            return "\(target) ×\(workers)"
        }
    }
}

/// One run: one target, one scenario, one round. The JSON keys are the report's contract.
public struct BenchResult: Codable, Equatable, Sendable {
    public var target: String
    public var mode: String
    public var balance: String
    public var workers: Int
    public var scenario: String
    public var round: Int
    public var requestsPerSec: Double
    public var latencyMs: Latency
    /// Socket errors (connect, read, write, timeout) plus responses of status 400 or more.
    public var errors: Int
    public var perWorkerConnections: [Int]?
    public var perWorkerRequests: [Int]?
    public var jain: Double?
    public var top2Share: Double?
    public var maxOverMean: Double?
    public var cpuUsPerRequest: Double?
    public var primaryCpuShare: Double?
    public var peakRssKb: Int?

    /// Latency percentiles in milliseconds.
    public typealias Latency = LatencyPercentiles

    enum CodingKeys: String, CodingKey {
        case target, mode, balance, workers, scenario, round, errors, jain
        case requestsPerSec = "requests_per_sec"
        case latencyMs = "latency_ms"
        case perWorkerConnections = "per_worker_connections"
        case perWorkerRequests = "per_worker_requests"
        case top2Share = "top2_share"
        case maxOverMean = "max_over_mean"
        case cpuUsPerRequest = "cpu_us_per_request"
        case primaryCpuShare = "primary_cpu_share"
        case peakRssKb = "peak_rss_kb"
    }

    public init(target: BenchTarget, scenario: String, round: Int, wrk: WrkReport,
                perWorkerConnections: [Int]?, perWorkerRequests: [Int]?,
                cpuSeconds: Double?, primaryCpuSeconds: Double?, peakRssKb: Int?) {
        self.target = target.target
        self.mode = target.mode
        self.balance = target.balance
        self.workers = target.workers
        self.scenario = scenario
        self.round = round
        requestsPerSec = wrk.requestsPerSecond
        latencyMs = wrk.latency.scaled(by: 1000)
        errors = wrk.errors.socket + wrk.errors.status
        self.perWorkerConnections = perWorkerConnections
        self.perWorkerRequests = perWorkerRequests
        if let c = perWorkerConnections {
            let d = c.map(Double.init)
            jain = Statistics.jain(d)
            top2Share = Statistics.topTwoShare(d)
            maxOverMean = Statistics.maxOverMean(d)
        }
        if let cpuSeconds, wrk.requests > 0 {
            cpuUsPerRequest = cpuSeconds * 1e6 / Double(wrk.requests)
            if let primaryCpuSeconds, cpuSeconds > 0 { primaryCpuShare = primaryCpuSeconds / cpuSeconds }
        }
        self.peakRssKb = peakRssKb
    }

    public var benchTarget: BenchTarget { BenchTarget(target: target, mode: mode, balance: balance, workers: workers) }
}

/// The runs of one target in one scenario, over the rounds: medians and ranges.
public struct BenchSummary: Sendable {
    public let target: BenchTarget
    public let scenario: String
    public let runs: [BenchResult]

    public init(target: BenchTarget, scenario: String, runs: [BenchResult]) {
        self.target = target
        self.scenario = scenario
        self.runs = runs
    }

    func median(_ f: (BenchResult) -> Double?) -> Double? { Statistics.median(runs.compactMap(f)) }

    public var requestsPerSec: Double { median { $0.requestsPerSec } ?? 0 }
    public var requestsPerSecRange: (Double, Double) {
        (runs.map(\.requestsPerSec).min() ?? 0, runs.map(\.requestsPerSec).max() ?? 0)
    }
    public var latency: BenchResult.Latency {
        BenchResult.Latency(p50: median { $0.latencyMs.p50 } ?? 0, p90: median { $0.latencyMs.p90 } ?? 0,
                            p99: median { $0.latencyMs.p99 } ?? 0, p999: median { $0.latencyMs.p999 } ?? 0,
                            max: runs.map(\.latencyMs.max).max() ?? 0)
    }
    public var errors: Int { runs.map(\.errors).reduce(0, +) }
    /// Connections per worker, busiest first: each round's counts are ranked, then summed by
    /// rank. Servers start fresh each round, so "worker 1" of one round is not "worker 1" of
    /// the next: summing by rank keeps a round's concentration visible (one worker taking
    /// everything in each round stays one worker taking everything).
    public var connections: [Int]? {
        let all = runs.compactMap(\.perWorkerConnections)
        guard let width = all.map(\.count).max() else { return nil }
        var sum = [Int](repeating: 0, count: width)
        for c in all {
            for (rank, value) in c.sorted(by: >).enumerated() { sum[rank] += value }
        }
        return sum
    }
    public var jain: Double? { connections.map { Statistics.jain($0.map(Double.init)) } }
    public var top2Share: Double? { connections.map { Statistics.topTwoShare($0.map(Double.init)) } }
    public var cpuUsPerRequest: Double? { median { $0.cpuUsPerRequest } }
    public var primaryCpuShare: Double? { median { $0.primaryCpuShare } }
    public var peakRssKb: Int? { runs.compactMap(\.peakRssKb).max() }

    /// Groups runs by scenario and target, in first-seen order.
    public static func group(_ results: [BenchResult]) -> [BenchSummary] {
        var order: [String] = []
        var byKey: [String: [BenchResult]] = [:]
        for r in results {
            let key = "\(r.scenario)|\(r.target)|\(r.mode)|\(r.balance)|\(r.workers)"
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: []].append(r)
        }
        return order.map { key in
            let runs = byKey[key]!
            return BenchSummary(target: runs[0].benchTarget, scenario: runs[0].scenario, runs: runs)
        }
    }
}
