import Foundation
import Testing
@testable import BenchKit

@Suite("ReportWriter")
struct ReportWriterTests {
    static let rr = BenchTarget(target: "uring-cluster", mode: "round-robin", balance: "load-aware", workers: 2)
    static let shared = BenchTarget(target: "uring-cluster", mode: "shared", balance: "none", workers: 2)
    static let nginx = BenchTarget(target: "nginx", mode: "workers", balance: "kernel", workers: 2)

    static let results: [BenchResult] = [
        result(rr, scenario: "keepalive", round: 1, requests: 1_000_000, connections: [40, 24], cpuSeconds: 10,
               primaryCpuSeconds: 1, peakRssKb: 10_240),
        result(shared, scenario: "keepalive", round: 1, requests: 900_000, connections: [60, 4]),
        result(nginx, scenario: "keepalive", round: 1, requests: 800_000, status: 3),
        result(rr, scenario: "keepalive", round: 2, requests: 1_200_000, connections: [30, 34], cpuSeconds: 12,
               primaryCpuSeconds: 1.2, peakRssKb: 11_264),
        result(shared, scenario: "keepalive", round: 2, requests: 950_000, connections: [50, 14]),
        result(nginx, scenario: "keepalive", round: 2, requests: 850_000),
        result(nginx, scenario: "churn", round: 1, requests: 300_000),
        result(nginx, scenario: "churn", round: 2, requests: 310_000),
    ]

    static func withTemporaryDirectory(_ body: (URL) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("benchkit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try body(dir)
    }

    static var writer: ReportWriter { ReportWriter(machine: ["cpus": "8", "kernel": "6.8.0"],
                                     method: ["wrk -t4 -c64 -d10s", "2 rounds"], notes: ["a note"]) }

    @Test func writeReturnsTheFilesItWroteAndTheyExist() throws {
        try Self.withTemporaryDirectory { dir in
            let files = try Self.writer.write(Self.results, to: dir)
            #expect(Set(files) == ["results.json", "report.md",
                                   "cpu-keepalive.svg", "throughput-keepalive.svg", "latency-keepalive.svg", "distribution-keepalive.svg",
                                   "throughput-churn.svg", "latency-churn.svg"])
            #expect(files.count == 8)
            for name in files {
                #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), "\(name)")
            }
            // No distribution chart for a scenario where no target reports connections.
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("distribution-churn.svg").path))
        }
    }

    @Test func writeCreatesMissingDirectories() throws {
        try Self.withTemporaryDirectory { dir in
            let nested = dir.appendingPathComponent("a/b")
            try Self.writer.write(Self.results, to: nested)
            #expect(FileManager.default.fileExists(atPath: nested.appendingPathComponent("report.md").path))
        }
    }

    @Test func resultsJsonDecodesBackToTheSameResults() throws {
        try Self.withTemporaryDirectory { dir in
            try Self.writer.write(Self.results, to: dir)
            let data = try Data(contentsOf: dir.appendingPathComponent("results.json"))
            let document = try JSONDecoder().decode(ResultsDocument.self, from: data)
            #expect(document.results == Self.results)
            #expect(document.machine == ["cpus": "8", "kernel": "6.8.0"])
            #expect(document.method == ["wrk -t4 -c64 -d10s", "2 rounds"])
        }
    }

    @Test func reportHasOneTableRowPerConfigurationPerScenario() throws {
        try Self.withTemporaryDirectory { dir in
            try Self.writer.write(Self.results, to: dir)
            let md = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
            let sections = md.components(separatedBy: "## Scenario `").dropFirst()
            #expect(sections.count == 2)
            let keepalive = try #require(sections.first { $0.hasPrefix("keepalive`") })
            let churn = try #require(sections.first { $0.hasPrefix("churn`") })

            func rows(_ section: String) -> [String] {
                section.split(separator: "\n").map(String.init)
                    .filter { $0.hasPrefix("| ") && !$0.hasPrefix("| configuration") }
            }
            #expect(rows(keepalive).map { $0.components(separatedBy: " | ")[0] } == ["| rr/load-aware ×2", "| shared ×2", "| nginx ×2"])
            #expect(rows(churn).map { $0.components(separatedBy: " | ")[0] } == ["| nginx ×2"])

            // rr: 100k and 120k req/s -> median 110000 (100000–120000); connections ranked per round: [40, 24] + [34, 30] = [74, 54].
            let rr = try #require(rows(keepalive).first)
            // CPU per request is the second column, the headline.
            #expect(rr.hasPrefix("| rr/load-aware ×2 | 10.0 | 110000 (100000–120000) | 1.00 | 2.00 | 4.00 | 8.00 | 16.00 | 0 | 74 54 |"))
            #expect(rr.hasSuffix("| 10% | 11.0 |"))
            // nginx: errors summed, no distribution or CPU figures.
            let nginx = rows(keepalive)[2]
            #expect(nginx.hasPrefix("| nginx ×2 | – | 82500 (80000–85000) |"))
            #expect(nginx.hasSuffix("| 3 | – | – | – | – | – |"))
            #expect(rows(churn)[0].hasPrefix("| nginx ×2 | – | 30500 (30000–31000) |"))
        }
    }

    @Test func reportLinksTheCharts() throws {
        try Self.withTemporaryDirectory { dir in
            try Self.writer.write(Self.results, to: dir)
            let md = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
            #expect(md.contains("![cpu](cpu-keepalive.svg)"))
            #expect(!md.contains("cpu-churn.svg"))  // nginx only: no CPU figures
            #expect(md.contains("![throughput](throughput-keepalive.svg)"))
            #expect(md.contains("![latency](latency-keepalive.svg)"))
            #expect(md.contains("![distribution](distribution-keepalive.svg)"))
            #expect(md.contains("![throughput](throughput-churn.svg)"))
            #expect(md.contains("![latency](latency-churn.svg)"))
            #expect(!md.contains("distribution-churn.svg"))
        }
    }

    @Test func reportListsMachineMethodAndNotes() throws {
        try Self.withTemporaryDirectory { dir in
            try Self.writer.write(Self.results, to: dir)
            let md = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
            #expect(md.contains("## Machine\n\n- cpus: 8\n- kernel: 6.8.0\n"))
            #expect(md.contains("## Method\n\n- wrk -t4 -c64 -d10s\n- 2 rounds\n"))
            #expect(md.contains("## Notes\n\n- a note\n"))
            let keepaliveAt = try #require(md.range(of: "## Scenario `keepalive`"))
            let churnAt = try #require(md.range(of: "## Scenario `churn`"))
            #expect(keepaliveAt.lowerBound < churnAt.lowerBound)
        }
    }

    @Test func writtenChartsAreWellFormedSVG() throws {
        try Self.withTemporaryDirectory { dir in
            let files = try Self.writer.write(Self.results, to: dir)
            for name in files where name.hasSuffix(".svg") {
                let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
                let xml = parseXML(text)
                #expect(xml.ok, "\(name): \(xml.error ?? "")")
                #expect(xml.elements.first?.name == "svg")
            }
            let throughput = parseXML(try String(contentsOf: dir.appendingPathComponent("throughput-keepalive.svg"), encoding: .utf8))
            // rr 110000 is the largest: 440 wide; shared 92500, nginx 82500.
            let widths = throughput.named("rect").dropFirst().compactMap { $0.attributes["width"].flatMap(Double.init) }
            #expect(widths == [440, 370, 330])
        }
    }
}
