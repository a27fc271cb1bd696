import Glibc
import HTTP1
import URing

/// The routes `uring-cluster serve` answers, also usable by any program built on the library:
///
/// - `GET /` → 200 `hello world\n`
/// - `POST /echo` → 200 with the request body
/// - `GET /delay?ms=N` → 200 after N ms (a ring timer; other connections go on)
/// - `GET /burn?us=N` → 200 after spinning the CPU for N µs (a CPU-heavy request)
/// - `GET /stats` → JSON counters of every worker (of this process when it serves alone)
/// - `GET /metrics` → the same in the Prometheus text format
/// - `OPTIONS *` → 200 with the methods the server knows; `OPTIONS /path` → 200 with the
///   path's `Allow` (RFC 9110 §9.3.7)
/// - anything else → 404; a known path with another method → 405. HEAD works wherever GET does.
public struct BuiltinRoutes: HTTPHandler {
    /// Longest `/delay` and `/burn` accepted, so one request cannot hold a connection or a core for long.
    public static let maxDelayMilliseconds = 60_000
    public static let maxBurnMicroseconds = 10_000_000

    /// A cluster's shared board, or nil when this process serves alone.
    let stats: (any StatsSource)?

    public init(stats: (any StatsSource)? = nil) {
        self.stats = stats
    }

    func snapshot(_ context: HandlerContext) -> StatsSnapshot {
        stats?.snapshot(local: context.counters) ?? StatsSnapshot(single: context.counters)
    }

    public mutating func handle(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome {
        if request.method == .options { return options(request, &response) }
        let isGet = request.method == .get || request.method == .head
        if request.pathIs("/") {
            guard isGet else { return notAllowed(&response, "Allow: GET, HEAD\r\n") }
            response.respond(.ok, body: "hello world\n")
        } else if request.pathIs("/echo") {
            guard request.method == .post else { return notAllowed(&response, "Allow: POST\r\n") }
            response.respond(.ok, contentType: "application/octet-stream", body: request.body)
        } else if request.pathIs("/delay") {
            guard isGet else { return notAllowed(&response, "Allow: GET, HEAD\r\n") }
            guard let ms = request.queryInteger("ms"), ms <= Self.maxDelayMilliseconds else {
                response.respond(.badRequest, body: "expected /delay?ms=N with 0 <= N <= 60000\n")
                return .done
            }
            response.respond(.ok, body: "delayed\n")
            return ms == 0 ? .done : .delay(nanoseconds: UInt64(ms) * 1_000_000)
        } else if request.pathIs("/burn") {
            guard isGet else { return notAllowed(&response, "Allow: GET, HEAD\r\n") }
            guard let us = request.queryInteger("us"), us <= Self.maxBurnMicroseconds else {
                response.respond(.badRequest, body: "expected /burn?us=N with 0 <= N <= 10000000\n")
                return .done
            }
            let end = monotonicNanoseconds() + UInt64(us) * 1000
            while monotonicNanoseconds() < end {}
            response.respond(.ok, body: "burned\n")
        } else if request.pathIs("/stats") {
            guard isGet else { return notAllowed(&response, "Allow: GET, HEAD\r\n") }
            response.respond(.ok, contentType: "application/json", text: StatsReport.json(snapshot(context)))
        } else if request.pathIs("/metrics") {
            guard isGet else { return notAllowed(&response, "Allow: GET, HEAD\r\n") }
            response.respond(.ok, contentType: "text/plain; version=0.0.4", text: StatsReport.prometheus(snapshot(context)))
        } else {
            response.respond(.notFound, body: "not found\n")
        }
        return .done
    }

    /// OPTIONS: what the server (`*`) or a path allows, with no body.
    func options(_ request: Request, _ response: inout ResponseWriter) -> HandlerOutcome {
        if request.pathIs("*") {
            response.respond(.ok, extraHeaders: "Allow: GET, HEAD, POST, OPTIONS\r\n", body: "")
        } else if request.pathIs("/echo") {
            response.respond(.ok, extraHeaders: "Allow: POST, OPTIONS\r\n", body: "")
        } else if request.pathIs("/") || request.pathIs("/delay") || request.pathIs("/burn")
                    || request.pathIs("/stats") || request.pathIs("/metrics") {
            response.respond(.ok, extraHeaders: "Allow: GET, HEAD, OPTIONS\r\n", body: "")
        } else {
            response.respond(.notFound, body: "not found\n")
        }
        return .done
    }

    func notAllowed(_ response: inout ResponseWriter, _ allow: StaticString) -> HandlerOutcome {
        response.respond(.methodNotAllowed, extraHeaders: allow, body: "method not allowed\n")
        return .done
    }
}

