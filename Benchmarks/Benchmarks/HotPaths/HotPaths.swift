// The hot paths without sockets: the head parser, the hello path (request bytes in, state
// machine, router, response writer, response bytes out), pipelined requests, the chunked
// decoder and the balance policies. Each reports wall-clock time and heap allocations per
// operation (ordo-one/benchmark's malloc interposer); every one of them is meant to allocate
// nothing.
import Benchmark
import Cluster
import HTTP1
import HTTPServer

let request = Array("GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n".utf8)
let browser = Array(("GET /static/app.js?v=1234 HTTP/1.1\r\nHost: www.example.com\r\n"
    + "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    + "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    + "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
    + "Referer: https://www.example.com/index.html\r\nConnection: keep-alive\r\n"
    + "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n"
    + "Cache-Control: max-age=0\r\n\r\n").utf8)

/// What each measurement reports: time and allocations per operation, over many operations
/// per sample (the `scaledIterations` of `scalingFactor`).
func configuration(_ scale: BenchmarkScalingFactor = .kilo) -> Benchmark.Configuration {
    .init(metrics: [.wallClock, .mallocCountTotal, .throughput], scalingFactor: scale,
          maxDuration: .seconds(2), maxIterations: 1_000)
}

/// A parser's tables and the state the hello path needs, allocated once.
final class Bench: @unchecked Sendable {
    let limits = HTTPLimits()
    let fields = UnsafeMutableBufferPointer<HeaderField>.allocate(capacity: 101)
    let date = UnsafeMutableRawPointer.allocate(byteCount: HTTPDate.length, alignment: 8)
    var input = InputBuffer()
    var output = RawBuffer(capacity: 4096)
    var machine = HTTPConnectionStateMachine(now: 0)
    var routes = BuiltinRoutes()
    let context = HandlerContext(counters: ServerCounters())

    init() { HTTPDate.format(epochSeconds: 0, into: date) }

    func head(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            guard case .found(let end) = HeadParser.findEnd(raw, start: 0, from: 0) else { fatalError("no end") }
            blackHole(HeadParser.parse(raw, start: 0, end: end, limits: limits, fields: fields))
        }
    }

    /// Every request in `bytes` through the connection machine and the built-in routes.
    func serve(_ bytes: [UInt8]) {
        output.count = 0
        bytes.withUnsafeBytes { input.append($0) }
        while !input.isEmpty {
            var count = input.count
            guard case .dispatch(let head, let body, let consumed) = machine.process(input.base!, count: &count, now: 1, fields: fields) else {
                fatalError("no dispatch")
            }
            withUnsafeMutablePointer(to: &output) { out in
                var writer = ResponseWriter(out: out, date: date, isHead: false, minorVersion: 1, keepAlive: true)
                let r = Request(head: head, bytes: input.bytes, fields: UnsafeBufferPointer(rebasing: fields[0..<head.fieldCount]), body: body)
                _ = routes.handle(r, &writer, context)
            }
            machine.responded(keepAlive: true, now: 1)
            input.consume(consumed)
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    let bench = Bench()

    // One array per operation must read as 1 allocation, or the counts below mean nothing.
    Benchmark("calibration: one [Int] of 16 per operation", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations { blackHole([Int](repeating: 0, count: 16)) }
    }

    Benchmark("HeadParser findEnd + parse, 79-byte GET", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations { bench.head(request) }
    }
    Benchmark("HeadParser findEnd + parse, 444-byte browser GET", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations { bench.head(browser) }
    }
    Benchmark("hello path: parse, route, respond", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations { bench.serve(request) }
    }
    let pipelined = Array(repeating: request, count: 16).flatMap { $0 }
    Benchmark("16 pipelined requests in one read", configuration: configuration(.one)) { benchmark in
        for _ in benchmark.scaledIterations { bench.serve(pipelined) }
    }
    let chunked = Array(("400\r\n" + String(repeating: "x", count: 1024) + "\r\n0\r\n\r\n").utf8)
    Benchmark("ChunkedDecoder, one 1 KiB chunk", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations {
            chunked.withUnsafeBytes { bytes in
                var d = ChunkedDecoder()
                var total = 0
                blackHole(d.decode(bytes, limits: bench.limits) { total += $0.count })
                blackHole(total)
            }
        }
    }
    for policy in BalancePolicy.allCases {
        let loads = (0..<8).map { WorkerLoad(active: 10 + $0 % 3, inflight: $0 % 2, unacknowledged: $0 % 4, busy: $0 == 5) }
        Benchmark("Balancer.choose \(policy.rawValue), 8 workers", configuration: configuration()) { benchmark in
            var balancer = Balancer(policy: policy)
            var hash: UInt64 = 1
            for _ in benchmark.scaledIterations {
                hash = hash &* 6364136223846793005 &+ 1
                loads.withUnsafeBufferPointer { blackHole(balancer.choose($0, clientHash: hash)) }
            }
        }
    }
}
