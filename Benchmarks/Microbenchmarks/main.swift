// Microbenchmarks of the hot paths, kept out of the normal build: Package.swift adds this
// target only when URING_CLUSTER_BENCHMARKS is set (`make microbench`), as Hummingbird does
// for its benchmarks. (ordo-one/package-benchmark 1.38 needs swift-runtime-interposer on
// Linux with Swift 6.3, which this project's package mirror does not carry; the allocation
// counts come from ordo-one/malloc-interposer, which package-benchmark uses for the same.)
//
// Each measurement: a warm-up, then 7 samples of a fixed number of iterations; the median
// nanoseconds per operation is reported. Allocations are counted with the interposer while
// the same code runs (the process must be started with LD_PRELOAD of its library).
import Cluster
import Foundation
import Glibc
import HTTP1
import HTTPServer
import MallocInterposerSwift
import URing

@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

// MICROBENCH_FILTER=text runs only the measurements whose name contains it (for callgrind,
// which counts instructions exactly where the machine's timings are noisy).
let filter = ProcessInfo.processInfo.environment["MICROBENCH_FILTER"]

func measure(_ name: String, iterations: Int, unit: String = "op", _ body: () -> Void) -> Double {
    if let filter, !name.contains(filter) { return .nan }
    for _ in 0..<(iterations / 10) { body() }
    var samples: [Double] = []
    for _ in 0..<7 {
        let start = monotonicNanoseconds()
        for _ in 0..<iterations { body() }
        samples.append(Double(monotonicNanoseconds() - start) / Double(iterations))
    }
    samples.sort()
    let median = samples[3]
    MallocInterposerSwift.initialize()
    MallocInterposerSwift.reset()
    MallocInterposerSwift.hook()
    for _ in 0..<iterations { body() }
    MallocInterposerSwift.unhook()
    let stats = MallocInterposerSwift.getStatistics()
    let allocations = Double(stats.mallocCount) / Double(iterations)
    let padded = name.padding(toLength: 44, withPad: " ", startingAt: 0)
    printLine("\(padded) \(String(format: "%9.1f", median)) ns/\(unit)   \(String(format: "%6.2f", allocations)) allocations/\(unit)")
    return median
}

func throughput(_ what: String, bytes: Int, nanoseconds: Double) {
    guard nanoseconds.isFinite else { return }  // filtered out
    printLine("  \(what) throughput: \(Int(Double(bytes) / nanoseconds * 1000.0)) MB/s")
}

// Calibration: one array allocation per operation must read as 1 allocation/op, or the
// interposer is not loaded (LD_PRELOAD) and every count below would be meaningless.
_ = measure("calibration: allocate one [Int] of 16", iterations: 100_000) {
    blackHole([Int](repeating: 0, count: 16))
}

let request = Array("GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n".utf8)
let fields = UnsafeMutableBufferPointer<HeaderField>.allocate(capacity: 101)
let limits = HTTPLimits()

// 1. The header parser alone.
let parseNs = request.withUnsafeBytes { bytes in
    measure("HeadParser.parse (79-byte GET)", iterations: 200_000) {
        blackHole(HeadParser.parse(bytes, start: 0, end: bytes.count, limits: limits, fields: fields))
    }
}
throughput("parser", bytes: request.count, nanoseconds: parseNs)

// 1b. What the connection machine does per head: find its end, then parse it.
let headNs = request.withUnsafeBytes { bytes in
    measure("HeadParser.findEnd + parse (79-byte GET)", iterations: 200_000) {
        guard case .found(let end) = HeadParser.findEnd(bytes, start: 0, from: 0) else { fatalError("no end") }
        blackHole(HeadParser.parse(bytes, start: 0, end: end, limits: limits, fields: fields))
    }
}
throughput("head", bytes: request.count, nanoseconds: headNs)

// 1c. A browser-like head (447 bytes, 9 fields), where lines are long enough for whole blocks.
let browser = Array(("GET /static/app.js?v=1234 HTTP/1.1\r\nHost: www.example.com\r\n"
    + "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    + "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    + "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
    + "Referer: https://www.example.com/index.html\r\nConnection: keep-alive\r\n"
    + "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n"
    + "Cache-Control: max-age=0\r\n\r\n").utf8)
let browserNs = browser.withUnsafeBytes { bytes in
    measure("HeadParser.findEnd + parse (\(browser.count)-byte browser GET)", iterations: 100_000) {
        guard case .found(let end) = HeadParser.findEnd(bytes, start: 0, from: 0) else { fatalError("no end") }
        blackHole(HeadParser.parse(bytes, start: 0, end: end, limits: limits, fields: fields))
    }
}
throughput("head", bytes: browser.count, nanoseconds: browserNs)

// 2. The hello path without sockets: bytes in, state machine, handler, response bytes out.
var input = RawBuffer(capacity: 4096)
var output = RawBuffer(capacity: 4096)
let date = UnsafeMutableRawPointer.allocate(byteCount: HTTPDate.length, alignment: 8)
HTTPDate.format(epochSeconds: 0, into: date)
var machine = HTTPConnectionStateMachine(now: 0)
var routes = BuiltinRoutes()
let context = HandlerContext(counters: ServerCounters())
_ = measure("hello path: parse + route + respond", iterations: 200_000, unit: "request") {
    input.count = 0
    request.withUnsafeBytes { input.append($0) }
    var count = input.count
    guard case .dispatch(let head, let body, let consumed) = machine.process(input.base!, count: &count, now: 1, fields: fields) else {
        fatalError("no dispatch")
    }
    output.count = 0
    withUnsafeMutablePointer(to: &output) { out in
        var writer = ResponseWriter(out: out, date: date, isHead: false, minorVersion: 1, keepAlive: true)
        let req = Request(head: head, bytes: input.bytes, fields: UnsafeBufferPointer(rebasing: fields[0..<head.fieldCount]), body: body)
        _ = routes.handle(req, &writer, context)
    }
    machine.responded(keepAlive: true, now: 1)
    input.removeFirst(consumed)
}

// 2b. Sixteen pipelined requests in one read, as wrk's pipeline script sends them: each is
// found, parsed, answered and consumed in turn, then the buffer is emptied at once.
let pipelined = Array(repeating: request, count: 16).flatMap { $0 }
_ = measure("pipelined hello path (16 per read)", iterations: 20_000, unit: "16 requests") {
    input.count = 0
    pipelined.withUnsafeBytes { input.append($0) }
    output.count = 0
    var offset = 0
    while offset < input.count {
        var count = input.count - offset
        guard case .dispatch(let head, let body, let consumed) = machine.process(input.base! + offset, count: &count, now: 1, fields: fields) else {
            fatalError("no dispatch")
        }
        withUnsafeMutablePointer(to: &output) { out in
            var writer = ResponseWriter(out: out, date: date, isHead: false, minorVersion: 1, keepAlive: true)
            let req = Request(head: head, bytes: UnsafeRawBufferPointer(start: input.base! + offset, count: count),
                              fields: UnsafeBufferPointer(rebasing: fields[0..<head.fieldCount]), body: body)
            _ = routes.handle(req, &writer, context)
        }
        machine.responded(keepAlive: true, now: 1)
        offset += consumed
    }
}

// 3. The chunked decoder.
let chunkedBody = Array(("400\r\n" + String(repeating: "x", count: 1024) + "\r\n").utf8) + Array("0\r\n\r\n".utf8)
chunkedBody.withUnsafeBytes { bytes in
    _ = measure("ChunkedDecoder (1 KiB chunk)", iterations: 200_000) {
        var d = ChunkedDecoder()
        var total = 0
        blackHole(d.decode(bytes, limits: limits) { total += $0.count })
        blackHole(total)
    }
}

// 4. Balance policy decisions over 8 workers with live-looking loads.
var loads = (0..<8).map { WorkerLoad(active: 10 + $0 % 3, inflight: $0 % 2, unacknowledged: $0 % 4) }
for policy in BalancePolicy.allCases {
    var balancer = Balancer(policy: policy)
    var hash: UInt64 = 1
    _ = measure("Balancer.choose \(policy.rawValue) (8 workers)", iterations: 1_000_000, unit: "decision") {
        hash = hash &* 6364136223846793005 &+ 1
        loads.withUnsafeBufferPointer { blackHole(balancer.choose($0, clientHash: hash)) }
    }
}
