import Foundation

/// Writes results.json, report.md and the SVG charts into one folder.
public struct ReportWriter {
    public let machine: [String: String]
    public let method: [String]
    public let notes: [String]

    public init(machine: [String: String], method: [String], notes: [String]) {
        self.machine = machine
        self.method = method
        self.notes = notes
    }

    /// The files written, relative to `directory`.
    @discardableResult
    public func write(_ results: [BenchResult], to directory: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var files: [String] = []
        func save(_ name: String, _ text: String) throws {
            try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
            files.append(name)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let document = ResultsDocument(machine: machine, method: method, notes: notes, results: results)
        try save("results.json", String(decoding: try encoder.encode(document), as: UTF8.self))

        let summaries = BenchSummary.group(results)
        let scenarios = summaries.map(\.scenario).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        var md = "# uring-cluster benchmark report\n\n"
        md += "## Machine\n\n" + machine.sorted(by: { $0.key < $1.key }).map { "- \($0.key): \($0.value)" }.joined(separator: "\n") + "\n\n"
        md += "## Method\n\n" + method.map { "- \($0)" }.joined(separator: "\n") + "\n\n"
        if !notes.isEmpty { md += "## Notes\n\n" + notes.map { "- \($0)" }.joined(separator: "\n") + "\n\n" }
        for scenario in scenarios {
            let rows = summaries.filter { $0.scenario == scenario }
            md += "## Scenario `\(scenario)`\n\n"
            // CPU per request leads: where wrk saturates, req/s ranks the load generator, and
            // the server's CPU per request is what ranks the servers.
            md += "| configuration | µs CPU/req | req/s median (min–max) | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | connections per worker | Jain | top-2 | primary CPU | peak RSS MB |\n"
            md += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
            for s in rows {
                let (lo, hi) = s.requestsPerSecRange
                let l = s.latency
                md += "| \(s.target.label) | \(s.cpuUsPerRequest.map { String(format: "%.1f", $0) } ?? "–") "
                md += "| \(Int(s.requestsPerSec)) (\(Int(lo))–\(Int(hi))) "
                md += "| \(f(l.p50)) | \(f(l.p90)) | \(f(l.p99)) | \(f(l.p999)) | \(f(l.max)) | \(s.errors) "
                md += "| \(s.connections.map { $0.map(String.init).joined(separator: " ") } ?? "–") "
                md += "| \(s.jain.map { String(format: "%.3f", $0) } ?? "–") | \(s.top2Share.map { String(format: "%.0f%%", $0 * 100) } ?? "–") "
                md += "| \(s.primaryCpuShare.map { String(format: "%.0f%%", $0 * 100) } ?? "–") "
                md += "| \(s.peakRssKb.map { String(format: "%.1f", Double($0) / 1024) } ?? "–") |\n"
            }
            let slug = scenario.filter { $0.isLetter || $0.isNumber }
            try save("throughput-\(slug).svg", SVGChart.bars(title: "\(scenario): requests/s (median)", unit: "req/s",
                                                            rows: rows.map { ($0.target.label, $0.requestsPerSec) }))
            try save("latency-\(slug).svg", SVGChart.groupedBars(
                title: "\(scenario): latency percentiles (median over rounds)", unit: "ms", series: ["p50", "p90", "p99", "p99.9"],
                rows: rows.map { ($0.target.label, [$0.latency.p50, $0.latency.p90, $0.latency.p99, $0.latency.p999]) }))
            let distributed = rows.compactMap { s in s.connections.map { (s.target.label, $0) } }
            md += "\n"
            let cpu = rows.compactMap { s in s.cpuUsPerRequest.map { (s.target.label, $0) } }
            if !cpu.isEmpty {
                try save("cpu-\(slug).svg", SVGChart.bars(title: "\(scenario): server µs CPU per request (median)", unit: "µs", rows: cpu))
                md += "![cpu](cpu-\(slug).svg)\n"
            }
            md += "![throughput](throughput-\(slug).svg)\n![latency](latency-\(slug).svg)\n"
            if !distributed.isEmpty {
                try save("distribution-\(slug).svg", SVGChart.shares(title: "\(scenario): connections per worker", rows: distributed))
                md += "![distribution](distribution-\(slug).svg)\n"
            }
            md += "\n"
        }
        try save("report.md", md)
        return files
    }

    func f(_ v: Double) -> String { v >= 100 ? String(format: "%.0f", v) : String(format: "%.2f", v) }
}

/// The top level of results.json.
public struct ResultsDocument: Codable, Sendable {
    public var machine: [String: String]
    public var method: [String]
    /// Peers skipped and similar remarks (absent in files written before it existed).
    public var notes: [String]?
    public var results: [BenchResult]
}
