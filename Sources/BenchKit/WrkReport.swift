import Foundation

/// What wrk measured in one run, from the JSON line its `done()` script prints
/// (`WrkReport.luaScript`): no scraping of wrk's text.
public struct WrkReport: Codable, Equatable, Sendable {
    public var requests: Int
    public var durationMicroseconds: Double
    public var bytes: Int
    public var errors: Errors
    /// Latency percentiles and max, in microseconds.
    public var latency: Latency

    public struct Errors: Codable, Equatable, Sendable {
        public var connect: Int
        public var read: Int
        public var write: Int
        /// Responses with a status of 400 or more.
        public var status: Int
        public var timeout: Int
        public var socket: Int { connect + read + write + timeout }
    }

    /// wrk's percentiles, in microseconds.
    public typealias Latency = LatencyPercentiles

    enum CodingKeys: String, CodingKey {
        case requests, bytes, errors, latency
        case durationMicroseconds = "duration_us"
    }

    public var requestsPerSecond: Double {
        durationMicroseconds > 0 ? Double(requests) * 1e6 / durationMicroseconds : 0
    }

    /// The marker that starts the JSON line among wrk's other output.
    public static let marker = "WRK_JSON "

    /// Finds and decodes the JSON line in wrk's standard output.
    public static func parse(_ output: String) throws -> WrkReport {
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix(marker) }) else {
            throw BenchError("wrk printed no result line (\(marker.trimmingCharacters(in: .whitespaces)))")
        }
        return try JSONDecoder().decode(WrkReport.self, from: Data(line.dropFirst(marker.count).utf8))
    }

    /// The Lua script given to wrk: optional request mix, and a JSON summary at the end.
    /// `heavyPath` is requested with probability `heavyShare` (the skewed scenario).
    public static func luaScript(heavyPath: String? = nil, heavyShare: Double = 0, headers: [String: String] = [:],
                                 pipeline: Int = 1) -> String {
        var lua = ""
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) {
            lua += "wrk.headers[\(quoted(k))] = \(quoted(v))\n"
        }
        if pipeline > 1 {
            // `pipeline` GET / in one write; wrk reads the responses one by one and counts
            // each as a request.
            lua += """
            local batch
            init = function(args)
              local requests = {}
              for i = 1, \(pipeline) do requests[i] = wrk.format(nil, "/") end
              batch = table.concat(requests)
            end
            request = function()
              return batch
            end

            """
        } else if let heavyPath {
            // The requests are formatted in init(): wrk sets the Host header per thread,
            // after the script is loaded, so requests formatted earlier would lack it.
            lua += """
            local light, heavy
            init = function(args)
              math.randomseed(os.time())
              light = wrk.format(nil, "/")
              heavy = wrk.format(nil, \(quoted(heavyPath)))
            end
            request = function()
              if math.random() < \(heavyShare) then return heavy end
              return light
            end

            """
        }
        lua += """
        done = function(summary, latency, requests)
          local e = summary.errors
          io.write(string.format('\(marker){"requests":%d,"duration_us":%d,"bytes":%d,' ..
            '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
            '"latency":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,"max":%.1f}}\\n',
            summary.requests, summary.duration, summary.bytes,
            e.connect, e.read, e.write, e.status, e.timeout,
            latency:percentile(50), latency:percentile(90), latency:percentile(99),
            latency:percentile(99.9), latency.max))
        end

        """
        return lua
    }
}

/// A Lua string literal: backslashes and double quotes escaped.
func quoted(_ s: String) -> String {
    "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
