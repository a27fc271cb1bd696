import Foundation
import Testing
@testable import BenchKit

@Suite("WrkReport")
struct WrkReportTests {
    /// wrk 4.1's standard output for a 10 s run, then the line the script's done() writes.
    static let wrkOutput = """
        Running 10s test @ http://127.0.0.1:8080/
          4 threads and 64 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency   612.33us    1.02ms  31.75ms   94.12%
            Req/Sec    26.41k     2.87k   35.10k    71.50%
          1051234 requests in 10.00s, 121.30MB read
          Socket errors: connect 2, read 5, write 1, timeout 3
          Non-2xx or 3xx responses: 7
        Requests/sec: 105112.79
        Transfer/sec:     12.13MB
        WRK_JSON {"requests":1051234,"duration_us":10001002,"bytes":127190000,"errors":{"connect":2,"read":5,"write":1,"status":7,"timeout":3},"latency":{"p50":402.0,"p90":1120.0,"p99":4810.5,"p999":15022.0,"max":31750.0}}

        """

    @Test func parseDecodesEveryFieldOfTheMarkerLine() throws {
        let report = try WrkReport.parse(Self.wrkOutput)
        #expect(report.requests == 1_051_234)
        #expect(report.durationMicroseconds == 10_001_002)
        #expect(report.bytes == 127_190_000)
        #expect(report.errors.connect == 2)
        #expect(report.errors.read == 5)
        #expect(report.errors.write == 1)
        #expect(report.errors.status == 7)
        #expect(report.errors.timeout == 3)
        #expect(report.latency.p50 == 402.0)
        #expect(report.latency.p90 == 1120.0)
        #expect(report.latency.p99 == 4810.5)
        #expect(report.latency.p999 == 15022.0)
        #expect(report.latency.max == 31750.0)
    }

    @Test func requestsPerSecondIsRequestsOverDurationInSeconds() throws {
        let report = try WrkReport.parse(Self.wrkOutput)
        #expect(close(report.requestsPerSecond, 1_051_234.0 * 1e6 / 10_001_002.0))
        #expect(close(wrkReport(requests: 50_000, durationMicroseconds: 2_000_000).requestsPerSecond, 25_000))
    }

    @Test func requestsPerSecondIsZeroForZeroDuration() {
        #expect(wrkReport(requests: 10, durationMicroseconds: 0).requestsPerSecond == 0)
    }

    @Test func socketErrorsSumConnectReadWriteAndTimeoutButNotStatus() throws {
        let report = try WrkReport.parse(Self.wrkOutput)
        #expect(report.errors.socket == 2 + 5 + 1 + 3)
        #expect(wrkReport(connect: 1, read: 10, write: 100, status: 5000, timeout: 1000).errors.socket == 1111)
    }

    @Test func parseUsesTheLastMarkerLine() throws {
        let output = """
            WRK_JSON {"requests":1,"duration_us":1,"bytes":1,"errors":{"connect":0,"read":0,"write":0,"status":0,"timeout":0},"latency":{"p50":1,"p90":1,"p99":1,"p999":1,"max":1}}
            WRK_JSON {"requests":2,"duration_us":4,"bytes":8,"errors":{"connect":0,"read":0,"write":0,"status":0,"timeout":0},"latency":{"p50":1,"p90":1,"p99":1,"p999":1,"max":1}}
            """
        #expect(try WrkReport.parse(output).requests == 2)
    }

    @Test func parseWithoutTheMarkerLineThrowsBenchError() {
        let withoutMarker = Self.wrkOutput.split(separator: "\n").filter { !$0.hasPrefix("WRK_JSON") }.joined(separator: "\n")
        #expect(throws: BenchError.self) { try WrkReport.parse(withoutMarker) }
        #expect(throws: BenchError.self) { try WrkReport.parse("") }
    }

    @Test func parseRequiresTheMarkerAtTheStartOfALine() {
        // The marker without its trailing space, or in the middle of a line, is not the result line.
        #expect(throws: BenchError.self) { try WrkReport.parse("WRK_JSON{\"requests\":1}\n") }
        #expect(throws: BenchError.self) { try WrkReport.parse("noise WRK_JSON {\"requests\":1}\n") }
    }

    @Test func parseOfMalformedJSONThrows() {
        #expect(throws: DecodingError.self) { try WrkReport.parse("Requests/sec: 1\nWRK_JSON {\"requests\":12,\"duration_us\":\n") }
        #expect(throws: DecodingError.self) { try WrkReport.parse("WRK_JSON not json at all\n") }
        // Well-formed JSON that lacks a field is rejected too.
        #expect(throws: DecodingError.self) { try WrkReport.parse("WRK_JSON {\"requests\":12,\"duration_us\":5}\n") }
    }

    @Test func jsonUsesDurationUsKey() throws {
        let data = try JSONEncoder().encode(wrkReport(requests: 3, durationMicroseconds: 7))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["requests", "duration_us", "bytes", "errors", "latency"])
        #expect(object["duration_us"] as? Double == 7)
    }

    // MARK: luaScript

    @Test func luaScriptDefinesDoneWithTheMarker() {
        let lua = WrkReport.luaScript()
        #expect(lua.contains("done = function(summary, latency, requests)"))
        #expect(lua.contains("'\(WrkReport.marker){\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,"))
        #expect(lua.contains("latency:percentile(99.9)"))
        #expect(!lua.contains("request = function"))
        #expect(!lua.contains("wrk.headers"))
    }

    @Test func luaScriptSetsEachHeaderGiven() {
        let lua = WrkReport.luaScript(headers: ["Connection": "close", "Accept": "text/plain"])
        #expect(lua.contains("wrk.headers[\"Connection\"] = \"close\"\n"))
        #expect(lua.contains("wrk.headers[\"Accept\"] = \"text/plain\"\n"))
        #expect(lua.contains("done = function"))
    }

    @Test func luaScriptWithHeavyPathDefinesRequestWithTheShare() {
        let lua = WrkReport.luaScript(heavyPath: "/burn?us=2000", heavyShare: 0.05)
        #expect(lua.contains("request = function()"))
        #expect(lua.contains("\"/burn?us=2000\""))
        #expect(lua.contains("if math.random() < 0.05 then return heavy end"))
        #expect(lua.contains("done = function"))
        #expect(lua.contains(WrkReport.marker))
    }

    @Test func luaScriptWithAPipelineSendsThatManyRequestsPerWrite() {
        let lua = WrkReport.luaScript(pipeline: 16)
        #expect(lua.contains("for i = 1, 16 do requests[i] = wrk.format(nil, \"/\") end"))
        #expect(lua.contains("batch = table.concat(requests)"))
        #expect(lua.contains("request = function()\n  return batch\nend"))
        #expect(lua.contains("done = function"))
        #expect(!WrkReport.luaScript().contains("batch"))
    }

    /// wrk sets the Host header in `wrk.init`, which runs after the script is loaded; a request
    /// formatted at the top level of the script therefore goes out without Host (an HTTP/1.1
    /// request every conforming server, this one included, answers with 400). Requests must be
    /// formatted inside `init` or `request`.
    @Test
    func luaScriptFormatsRequestsOnlyInsideFunctions() {
        for lua in [WrkReport.luaScript(heavyPath: "/burn?us=2000", heavyShare: 0.05, headers: ["Connection": "close"]),
                    WrkReport.luaScript(pipeline: 4)] {
        var depth = 0
        var topLevelFormats: [String] = []
        for line in lua.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.contains("= function(") { depth += 1 }
            if trimmed.contains("wrk.format(") && depth == 0 { topLevelFormats.append(trimmed) }
            if trimmed == "end" { depth -= 1 }
        }
        #expect(lua.contains("wrk.format("))
        #expect(topLevelFormats.isEmpty, "formatted before wrk.init: \(topLevelFormats)")
        }
    }

    static let luac: String? = ["/usr/bin/luac", "/usr/local/bin/luac", "/usr/bin/luac5.1", "/usr/bin/luac5.4"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: WrkReportTests.luac != nil, "luac is not installed"))
    func luaScriptIsValidLua() throws {
        let scripts = [WrkReport.luaScript(), WrkReport.luaScript(headers: ["Connection": "close"]),
                       WrkReport.luaScript(heavyPath: "/burn?us=2000", heavyShare: 0.05), WrkReport.luaScript(pipeline: 16)]
        for script in scripts {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("benchkit-\(UUID().uuidString).lua")
            try script.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try #require(Self.luac))
            process.arguments = ["-p", file.path]
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "luac -p rejected:\n\(script)")
        }
    }
}
