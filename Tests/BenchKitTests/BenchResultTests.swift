import Foundation
import Testing
@testable import BenchKit

@Suite("BenchResult")
struct BenchResultTests {
    static let rr = BenchTarget(target: "uring-cluster", mode: "round-robin", balance: "load-aware", workers: 2)
    static let shared = BenchTarget(target: "uring-cluster", mode: "shared", balance: "none", workers: 8)
    static let nginx = BenchTarget(target: "nginx", mode: "workers", balance: "kernel", workers: 2)

    static func full() -> BenchResult {
        BenchResult(target: rr, scenario: "keepalive", round: 2,
                    wrk: wrkReport(requests: 200_000, durationMicroseconds: 4_000_000,
                                   connect: 1, read: 2, write: 3, status: 10, timeout: 4,
                                   p50: 1_250, p90: 2_500, p99: 7_500, p999: 12_345, max: 40_000),
                    perWorkerConnections: [30, 10], perWorkerRequests: [150_000, 50_000],
                    cpuSeconds: 5, primaryCpuSeconds: 0.5, peakRssKb: 20_480)
    }

    @Test func initCopiesTheTargetAndRun() {
        let r = Self.full()
        #expect(r.target == "uring-cluster")
        #expect(r.mode == "round-robin")
        #expect(r.balance == "load-aware")
        #expect(r.workers == 2)
        #expect(r.scenario == "keepalive")
        #expect(r.round == 2)
        #expect(r.benchTarget == Self.rr)
        #expect(r.perWorkerRequests == [150_000, 50_000])
        #expect(r.peakRssKb == 20_480)
    }

    @Test func initTakesRequestsPerSecondFromWrk() {
        #expect(Self.full().requestsPerSec == 50_000)
    }

    @Test func initConvertsLatencyFromMicrosecondsToMilliseconds() {
        let l = Self.full().latencyMs
        #expect(close(l.p50, 1.25))
        #expect(close(l.p90, 2.5))
        #expect(close(l.p99, 7.5))
        #expect(close(l.p999, 12.345))
        #expect(close(l.max, 40))
    }

    @Test func errorsAreSocketErrorsPlusBadStatuses() {
        #expect(Self.full().errors == 1 + 2 + 3 + 4 + 10)
    }

    @Test func distributionFiguresComeFromConnections() {
        let r = Self.full() // connections [30, 10]
        #expect(r.perWorkerConnections == [30, 10])
        #expect(close(r.jain, 1600.0 / 2000.0))
        #expect(r.top2Share == 1)
        #expect(r.maxOverMean == 1.5)
    }

    @Test func distributionFiguresAreNilWithoutConnections() {
        let r = result(Self.nginx, scenario: "keepalive", round: 1, requests: 1000, connections: nil)
        #expect(r.perWorkerConnections == nil)
        #expect(r.jain == nil)
        #expect(r.top2Share == nil)
        #expect(r.maxOverMean == nil)
    }

    @Test func cpuPerRequestIsCpuSecondsInMicrosecondsOverRequests() {
        #expect(Self.full().cpuUsPerRequest == 25) // 5 s · 1e6 / 200 000
    }

    @Test func primaryCpuShareIsPrimaryOverTotalCpu() {
        #expect(Self.full().primaryCpuShare == 0.1)
    }

    @Test func cpuFiguresAreNilWithoutCpuTimeOrRequests() {
        let noCpu = result(Self.rr, scenario: "s", round: 1, requests: 1000, cpuSeconds: nil, primaryCpuSeconds: 1)
        #expect(noCpu.cpuUsPerRequest == nil)
        #expect(noCpu.primaryCpuShare == nil)
        let noRequests = result(Self.rr, scenario: "s", round: 1, requests: 0, cpuSeconds: 1, primaryCpuSeconds: 1)
        #expect(noRequests.cpuUsPerRequest == nil)
        let noPrimary = result(Self.rr, scenario: "s", round: 1, requests: 1000, cpuSeconds: 1, primaryCpuSeconds: nil)
        #expect(noPrimary.cpuUsPerRequest == 1000)
        #expect(noPrimary.primaryCpuShare == nil)
    }

    @Test func jsonUsesTheSnakeCaseContractKeys() throws {
        let data = try JSONEncoder().encode(Self.full())
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let contract: Set<String> = ["target", "mode", "balance", "workers", "scenario", "requests_per_sec", "latency_ms",
                                     "errors", "per_worker_connections", "jain", "top2_share", "cpu_us_per_request"]
        #expect(contract.isSubset(of: Set(object.keys)))
        // Every key there is, with every optional set.
        #expect(Set(object.keys) == contract.union(["round", "per_worker_requests", "max_over_mean",
                                                    "primary_cpu_share", "peak_rss_kb"]))
        let latency = try #require(object["latency_ms"] as? [String: Any])
        #expect(Set(latency.keys) == ["p50", "p90", "p99", "p999", "max"])
        #expect(object["target"] as? String == "uring-cluster")
        #expect(object["requests_per_sec"] as? Double == 50_000)
        #expect(object["errors"] as? Int == 20)
        #expect(object["per_worker_connections"] as? [Int] == [30, 10])
        #expect(object["cpu_us_per_request"] as? Double == 25)
        #expect(latency["p50"] as? Double == 1.25)
    }

    @Test func jsonLeavesOutAbsentOptionals() throws {
        let r = result(Self.nginx, scenario: "churn", round: 1, requests: 1000)
        let object = try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(r)) as? [String: Any])
        #expect(Set(object.keys) == ["target", "mode", "balance", "workers", "scenario", "round",
                                     "requests_per_sec", "latency_ms", "errors"])
    }

    @Test func jsonRoundTripsThroughJSONDecoder() throws {
        for r in [Self.full(), result(Self.nginx, scenario: "churn", round: 3, requests: 777, status: 5)] {
            let decoded = try JSONDecoder().decode(BenchResult.self, from: try JSONEncoder().encode(r))
            #expect(decoded == r)
        }
    }
}

@Suite("BenchTarget")
struct BenchTargetTests {
    @Test func roundRobinLabelShowsTheBalanceAndWorkers() {
        #expect(BenchTarget(target: "uring-cluster", mode: "round-robin", balance: "load-aware", workers: 2).label == "rr/load-aware ×2")
        #expect(BenchTarget(target: "uring-cluster", mode: "round-robin", balance: "plain", workers: 4).label == "rr/plain ×4")
    }

    @Test func otherUringModesLabelShowsTheModeAndWorkers() {
        #expect(BenchTarget(target: "uring-cluster", mode: "shared", balance: "none", workers: 8).label == "shared ×8")
        #expect(BenchTarget(target: "uring-cluster", mode: "reuseport", balance: "kernel", workers: 3).label == "reuseport ×3")
    }

    @Test func peerLabelShowsTheTargetAndWorkers() {
        #expect(BenchTarget(target: "nginx", mode: "workers", balance: "kernel", workers: 2).label == "nginx ×2")
        #expect(BenchTarget(target: "node-cluster", mode: "round-robin", balance: "rr", workers: 4).label == "node-cluster ×4")
    }
}

@Suite("BenchSummary")
struct BenchSummaryTests {
    static let a = BenchTarget(target: "uring-cluster", mode: "round-robin", balance: "load-aware", workers: 2)
    static let b = BenchTarget(target: "nginx", mode: "workers", balance: "kernel", workers: 2)

    /// Three rounds of two targets over two scenarios, interleaved as the harness runs them.
    static let results: [BenchResult] = [
        result(a, scenario: "keepalive", round: 1, requests: 1_000_000, p50: 1_000, max: 10_000,
               status: 1, connections: [10, 30], cpuSeconds: 10, primaryCpuSeconds: 1),
        result(b, scenario: "keepalive", round: 1, requests: 800_000, connections: nil),
        result(a, scenario: "churn", round: 1, requests: 100_000, connections: [5, 5]),
        result(a, scenario: "keepalive", round: 2, requests: 3_000_000, p50: 3_000, max: 50_000,
               read: 2, connections: [25, 15], cpuSeconds: 30, primaryCpuSeconds: 6),
        result(b, scenario: "keepalive", round: 2, requests: 900_000, connections: nil),
        result(a, scenario: "keepalive", round: 3, requests: 2_000_000, p50: 2_000, max: 20_000,
               connections: [20, 0], cpuSeconds: 40, primaryCpuSeconds: 2),
    ]

    @Test func groupKeepsFirstSeenOrderOfScenarioAndTarget() {
        let groups = BenchSummary.group(Self.results)
        #expect(groups.map(\.scenario) == ["keepalive", "keepalive", "churn"])
        #expect(groups.map(\.target) == [Self.a, Self.b, Self.a])
        #expect(groups.map { $0.runs.map(\.round) } == [[1, 2, 3], [1, 2], [1]])
    }

    @Test func groupSeparatesTargetsDifferingOnlyInWorkersOrBalance() {
        let a4 = BenchTarget(target: "uring-cluster", mode: "round-robin", balance: "load-aware", workers: 4)
        let plain = BenchTarget(target: "uring-cluster", mode: "round-robin", balance: "plain", workers: 2)
        let groups = BenchSummary.group([result(Self.a, scenario: "s", round: 1, requests: 1),
                                         result(a4, scenario: "s", round: 1, requests: 1),
                                         result(plain, scenario: "s", round: 1, requests: 1)])
        #expect(groups.map(\.target) == [Self.a, a4, plain])
    }

    @Test func groupOfNothingIsEmpty() {
        #expect(BenchSummary.group([]).isEmpty)
    }

    @Test func requestsPerSecIsTheMedianOverRounds() {
        let groups = BenchSummary.group(Self.results)
        #expect(groups[0].requestsPerSec == 200_000) // of 100k, 300k, 200k
        #expect(groups[1].requestsPerSec == 85_000) // of 80k, 90k
        #expect(groups[2].requestsPerSec == 10_000)
    }

    @Test func requestsPerSecRangeIsMinAndMax() {
        let groups = BenchSummary.group(Self.results)
        #expect(groups[0].requestsPerSecRange == (100_000, 300_000))
        #expect(groups[1].requestsPerSecRange == (80_000, 90_000))
    }

    @Test func latencyPercentilesAreMediansAndMaxIsTheLargest() {
        let l = BenchSummary.group(Self.results)[0].latency
        #expect(l.p50 == 2) // ms, median of 1, 3, 2
        #expect(l.p90 == 2)
        #expect(l.max == 50)
    }

    @Test func connectionsAreRankedPerRoundThenSummedBusiestFirst() {
        let groups = BenchSummary.group(Self.results)
        // ranked per round: [30,10] + [25,15] + [20,0] = [75, 25]
        #expect(groups[0].connections == [75, 25])
        #expect(close(groups[0].jain, 100.0 * 100.0 / (2 * (75.0 * 75.0 + 25.0 * 25.0))))
        #expect(groups[0].top2Share == 1)
        #expect(groups[1].connections == nil)
        #expect(groups[1].jain == nil)
        #expect(groups[2].connections == [5, 5])
    }

    /// A different worker takes everything in each round (a fresh server each round): the
    /// summary still shows one worker taking everything, not an even spread.
    @Test func concentrationInEachRoundStaysVisible() {
        let t = Self.a
        let s = BenchSummary(target: t, scenario: "s", runs: [
            result(t, scenario: "s", round: 1, requests: 1, connections: [0, 9, 0]),
            result(t, scenario: "s", round: 2, requests: 1, connections: [9, 0, 0]),
            result(t, scenario: "s", round: 3, requests: 1, connections: [1, 9, 5]),
        ])
        #expect(s.connections == [27, 5, 1])
        #expect(s.top2Share.map { ($0 * 1000).rounded() } == 970)
    }

    @Test func errorsAreSummedOverRounds() {
        let groups = BenchSummary.group(Self.results)
        #expect(groups[0].errors == 3) // 1 status + 2 read
        #expect(groups[1].errors == 0)
    }

    @Test func cpuFiguresAreMediansOverRounds() {
        let g = BenchSummary.group(Self.results)[0]
        // µs/request: 10, 10, 20 -> 10; primary share: 0.1, 0.2, 0.05 -> 0.1
        #expect(close(g.cpuUsPerRequest, 10))
        #expect(close(g.primaryCpuShare, 0.1))
        #expect(BenchSummary.group(Self.results)[1].cpuUsPerRequest == nil)
    }
}
