import Foundation
import Glibc
import HTTPServer
import Testing
import WebTesting

/// A reader of the Prometheus text exposition format (0.0.4), strict where Prometheus'
/// own parser is: metric and label names, quoted and escaped label values, a number for
/// each sample, one HELP and one TYPE per family before its samples, counters ending in
/// `_total`, no family split, no sample repeated.
struct PrometheusText {
    struct Sample: Hashable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var types: [String: String] = [:]
    var samples: [Sample] = []

    static func isName(_ s: Substring, colons: Bool) -> Bool {
        guard let first = s.first, first.isASCII, first.isLetter || first == "_" || (colons && first == ":") else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || (colons && $0 == ":")) }
    }

    init(_ text: String) throws {
        guard text.hasSuffix("\n") else { throw TestFailure("the exposition does not end in a newline") }
        var helps: Set<String> = []
        var finished: Set<String> = []
        var current: String? = nil
        var seen: Set<String> = []
        for line in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# ") {
                let parts = line.split(separator: " ", maxSplits: 3)
                guard parts.count >= 3, Self.isName(parts[2], colons: true) else { throw TestFailure("bad comment: \(line)") }
                let name = String(parts[2])
                if parts[1] == "HELP" {
                    guard helps.insert(name).inserted else { throw TestFailure("two HELP lines for \(name)") }
                } else if parts[1] == "TYPE" {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]),
                          types[name] == nil, !finished.contains(name) else { throw TestFailure("bad TYPE: \(line)") }
                    if parts[3] == "counter" && !name.hasSuffix("_total") { throw TestFailure("counter \(name) without _total") }
                    types[name] = String(parts[3])
                }
                continue
            }
            guard !line.isEmpty else { throw TestFailure("an empty line") }
            let sample = try Self.sample(line)
            guard types[sample.name] != nil, helps.contains(sample.name) else { throw TestFailure("\(sample.name) has no TYPE or HELP first") }
            if current != sample.name {
                if let current { finished.insert(current) }
                guard !finished.contains(sample.name) else { throw TestFailure("family \(sample.name) split") }
                current = sample.name
            }
            let key = sample.name + sample.labels.sorted { $0.key < $1.key }.description
            guard seen.insert(key).inserted else { throw TestFailure("sample repeated: \(line)") }
            samples.append(sample)
        }
    }

    static func sample(_ line: Substring) throws -> Sample {
        var i = line.startIndex
        while i < line.endIndex && line[i] != "{" && line[i] != " " { i = line.index(after: i) }
        let name = line[line.startIndex..<i]
        guard isName(name, colons: true) else { throw TestFailure("bad metric name: \(line)") }
        var labels: [String: String] = [:]
        if i < line.endIndex && line[i] == "{" {
            i = line.index(after: i)
            while i < line.endIndex && line[i] != "}" {
                let nameStart = i
                while i < line.endIndex && line[i] != "=" { i = line.index(after: i) }
                let labelName = line[nameStart..<i]
                guard isName(labelName, colons: false), i < line.endIndex else { throw TestFailure("bad label name: \(line)") }
                i = line.index(after: i)
                guard i < line.endIndex, line[i] == "\"" else { throw TestFailure("unquoted label value: \(line)") }
                i = line.index(after: i)
                var value = ""
                while i < line.endIndex && line[i] != "\"" {
                    if line[i] == "\\" {
                        i = line.index(after: i)
                        guard i < line.endIndex else { throw TestFailure("cut escape: \(line)") }
                        switch line[i] {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw TestFailure("bad escape: \(line)")
                        }
                    } else {
                        value.append(line[i])
                    }
                    i = line.index(after: i)
                }
                guard i < line.endIndex else { throw TestFailure("unterminated label value: \(line)") }
                i = line.index(after: i)
                guard labels.updateValue(value, forKey: String(labelName)) == nil else { throw TestFailure("label repeated: \(line)") }
                if i < line.endIndex && line[i] == "," { i = line.index(after: i) }
            }
            guard i < line.endIndex else { throw TestFailure("unterminated labels: \(line)") }
            i = line.index(after: i)
        }
        guard i < line.endIndex, line[i] == " " else { throw TestFailure("no value: \(line)") }
        let valueText = line[line.index(after: i)...]
        guard let value = Double(valueText), !valueText.contains(" ") else { throw TestFailure("bad value: \(line)") }
        return Sample(name: String(name), labels: labels, value: value)
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }
}

@Suite(.serialized) struct MetricsFormatTests {
    /// The reader refuses what Prometheus would: it is not a check that passes anything.
    @Test(arguments: [
        "# HELP a_total x\n# TYPE a_total counter\na_total 1",                     // no final newline
        "# HELP a x\n# TYPE a counter\na 1\n",                                    // counter without _total
        "a 1\n",                                                                  // no TYPE
        "# HELP a x\n# TYPE a gauge\na{b=\"c} 1\n",                                // unterminated value
        "# HELP a x\n# TYPE a gauge\na{b=c} 1\n",                                 // unquoted value
        "# HELP a x\n# TYPE a gauge\na{b=\"\\q\"} 1\n",                             // bad escape
        "# HELP a x\n# TYPE a gauge\na one\n",                                    // not a number
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n",                                 // repeated
        "# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\na 1\nb 1\na{c=\"d\"} 1\n",  // split family
        "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n",                                   // bad name
    ])
    func theReaderRefusesMalformedText(text: String) {
        #expect(throws: TestFailure.self) { try PrometheusText(text) }
    }

    @Test func labelValuesAreEscaped() throws {
        let snapshot = StatsSnapshot(mode: "a\"b\\c\nd", balance: "x", workers: [])
        let parsed = try PrometheusText(StatsReport.prometheus(snapshot))
        #expect(parsed.value("uring_cluster_info", ["mode": "a\"b\\c\nd", "balance": "x"]) == 1)
    }

    /// A cluster's /metrics, read as Prometheus would, with every family the fleet needs.
    @Test func aClustersMetricsParseAndCarryTheFleetsNumbers() throws {
        let server = try ServerProcess(["--workers", "2"])
        defer { server.stop() }
        for _ in 0..<10 { #expect(try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").status == 200) }
        let parsed = try PrometheusText(try fetch(server.port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").text)
        for (name, type) in [("uring_cluster_handoffs_total", "counter"), ("uring_cluster_refusals_total", "counter"),
                             ("uring_cluster_restarts_total", "counter"), ("uring_cluster_proxy_rejects_total", "counter"),
                             ("uring_cluster_primary_proxy_rejects_total", "counter"), ("uring_cluster_queue_depth", "gauge"),
                             ("uring_cluster_unavailable_total", "counter"), ("uring_cluster_build_info", "gauge"),
                             ("uring_cluster_ready", "gauge")] {
            #expect(parsed.types[name] == type, "\(name)")
        }
        let handoffs = parsed.samples.filter { $0.name == "uring_cluster_handoffs_total" }
        #expect(handoffs.count == 2)
        #expect(handoffs.reduce(0) { $0 + $1.value } >= 11, "10 requests and this one were handed off: \(handoffs)")
        #expect(parsed.value("uring_cluster_ready") == 1)
        #expect(parsed.value("uring_cluster_queue_depth") == 0)
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let build = try #require(parsed.samples.first { $0.name == "uring_cluster_build_info" })
        #expect(build.labels["kernel"] == release && build.labels["version"] == BuildInfo.version && build.labels["swift"] != nil)
    }
}
