import Foundation
import Glibc
import Testing

// The chaos soak: a client mix against 4 workers in each mode while a driver kills workers
// with SIGKILL and sends SIGHUP, SIGTTIN and SIGTTOU to the primary. Every request must get
// exactly one complete, correct response (echo bodies byte for byte, pipelined responses in
// order), or a clean refusal (503, or a refused connect) or a close before any byte of its
// response. The one exception is kill -9 itself: a response cut mid-way is counted apart
// (`cutByKill`), and allowed, only when the driver sent a SIGKILL while that exchange was
// under way (the README's promise: the killed worker's requests end with their connection
// closed). No worker may die but those the driver killed, and the primary never dies.
//
// Bounded: SOAK_SECONDS per mode (default 20, so about a minute in all); set it higher by
// hand for a longer soak, e.g. `SOAK_SECONDS=300 swift test --filter ChaosSoak`.

/// How one exchange ended.
enum SoakOutcome: Hashable {
    case ok
    case unavailable         // 503: a clean refusal
    case refused             // the connect failed
    case closedBeforeAnswer  // the connection ended before any byte of the response
    case cutByKill           // cut mid-response while the driver was killing a worker
    case wrong(String)       // a partial, garbled, duplicated or out-of-order response
}

/// A blocking loopback client that can tell "closed before any byte" from "cut mid-response".
final class SoakConnection {
    let fd: Int32
    private var buffer: [UInt8] = []

    init?(port: Int) {
        fd = connectLoopback(port: port, timeoutSeconds: 10).fd
        if fd < 0 { return nil }
    }

    deinit { close(fd) }

    /// Sends everything; false if the connection broke.
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    private func fill(slowly: Bool) -> Bool {
        var chunk = [UInt8](repeating: 0, count: slowly ? 4096 : 65536)
        if slowly { usleep(5_000) }
        var n: Int
        // EINTR: a signal to the test process interrupts a call with a socket timeout.
        repeat { n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } } while n < 0 && errno == EINTR
        guard n > 0 else { return false }
        buffer += chunk[0..<n]
        return true
    }

    /// Reads one response (Content-Length framed, as this server sends); interim 100
    /// responses are skipped when `skipContinue`.
    func readResponse(slowly: Bool = false, skipContinue: Bool = true) -> (status: Int, body: [UInt8])? {
        while true {
            if let end = headEnd() {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? -1
                var length = 0
                for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    length = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? -1
                }
                if status == 100 {
                    buffer.removeFirst(end + 4)
                    if skipContinue { continue }
                    return (100, [])
                }
                guard length >= 0 else { return (-2, []) }
                while buffer.count < end + 4 + length { if !fill(slowly: slowly) { return nil } }
                let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                buffer.removeFirst(end + 4 + length)
                return (status, body)
            }
            if !fill(slowly: slowly) { return nil }
        }
    }

    /// Whether any byte of a response arrived (and was not consumed).
    var hasPartial: Bool { !buffer.isEmpty }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    /// A response expected to be `expected`: classified.
    func outcome(expecting expected: [UInt8], slowly: Bool = false) -> SoakOutcome {
        guard let r = readResponse(slowly: slowly) else { return hasPartial ? .wrong("cut mid-response") : .closedBeforeAnswer }
        if r.status == 503 { return .unavailable }
        if r.status != 200 { return .wrong("status \(r.status)") }
        return r.body == expected ? .ok : .wrong("body of \(r.body.count) bytes differs from the \(expected.count) expected")
    }
}

/// The client mix, each kind in its own thread, until the deadline.
final class SoakLoad: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var counts: [String: [SoakOutcome: Int]] = [:]
    private(set) var problems: [String] = []
    /// When the driver sent each SIGKILL.
    private var kills: [Date] = []
    private let group = DispatchGroup()
    let port: Int
    let deadline: Date

    init(port: Int, seconds: Double) {
        self.port = port
        deadline = Date().addingTimeInterval(seconds)
        let kinds = ["keep-alive", "keep-alive", "per-request", "per-request", "pipelined", "post-length",
                     "post-chunked", "expect-continue", "delay", "slow-reader", "vanishing"]
        for (index, name) in kinds.enumerated() {
            group.enter()
            Thread.detachNewThread { [self] in
                var rng = SplitMix(seed: UInt64(index) &* 7919 &+ 1)
                while Date() < deadline {
                    let started = Date()
                    let outcomes = exchange(name, &rng)
                    record(name, outcomes.map { o in
                        if case .wrong("cut mid-response") = o, killSent(since: started) { return .cutByKill }
                        return o
                    })
                }
                group.leave()
            }
        }
    }

    func exchange(_ kind: String, _ rng: inout SplitMix) -> [SoakOutcome] {
        switch kind {
        case "keep-alive": return keepAlive(&rng)
        case "per-request": return perRequest(&rng)
        case "pipelined": return pipelined(&rng)
        case "post-length": return postLength(&rng)
        case "post-chunked": return postChunked(&rng)
        case "expect-continue": return expectContinue(&rng)
        case "delay": return delayed(&rng)
        case "slow-reader": return slowReader(&rng)
        default: return vanishing(&rng)
        }
    }

    func record(_ kind: String, _ outcomes: [SoakOutcome]) {
        lock.lock()
        defer { lock.unlock() }
        for o in outcomes {
            counts[kind, default: [:]][o, default: 0] += 1
            if case .wrong(let why) = o, problems.count < 20 { problems.append("\(kind): \(why)") }
        }
    }

    func finish() { group.wait() }

    /// The driver is about to send a SIGKILL.
    func noteKill() {
        lock.lock()
        kills.append(Date())
        lock.unlock()
    }

    func killSent(since start: Date) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return kills.contains { $0 >= start }
    }

    var total: [SoakOutcome: Int] {
        var t: [SoakOutcome: Int] = [:]
        for (_, c) in counts { for (o, n) in c { t[o, default: 0] += n } }
        return t
    }

    static let hello = Array("hello world\n".utf8)

    func connect() -> SoakConnection? { SoakConnection(port: port) }

    /// Sequential requests on one connection, reconnecting when it ends.
    func keepAlive(_ rng: inout SplitMix) -> [SoakOutcome] {
        guard let c = connect() else { return [.refused] }
        var out: [SoakOutcome] = []
        for _ in 0..<(5 + rng.next(20)) where Date() < deadline {
            guard c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n") else { out.append(.closedBeforeAnswer); break }
            let o = c.outcome(expecting: Self.hello)
            out.append(o)
            if o != .ok { break }
        }
        return out
    }

    func perRequest(_ rng: inout SplitMix) -> [SoakOutcome] {
        guard let c = connect() else { return [.refused] }
        guard c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n") else { return [.closedBeforeAnswer] }
        return [c.outcome(expecting: Self.hello)]
    }

    /// Several echo requests sent at once: the answers must come back in order.
    func pipelined(_ rng: inout SplitMix) -> [SoakOutcome] {
        guard let c = connect() else { return [.refused] }
        let n = 2 + rng.next(10)
        var text = ""
        var bodies: [[UInt8]] = []
        for k in 0..<n {
            let body = Array("request \(k) of \(n) \(rng.next(1_000_000))".utf8)
            bodies.append(body)
            text += "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n" + String(decoding: body, as: UTF8.self)
        }
        guard c.send(text) else { return [.closedBeforeAnswer] }
        var out: [SoakOutcome] = []
        for body in bodies {
            let o = c.outcome(expecting: body)
            out.append(o)
            if o != .ok { break }
        }
        return out
    }

    func randomBody(_ rng: inout SplitMix, max: Int) -> [UInt8] {
        (0..<(1 + rng.next(max))).map { _ in UInt8(truncatingIfNeeded: rng.next(256)) }
    }

    func postLength(_ rng: inout SplitMix) -> [SoakOutcome] {
        guard let c = connect() else { return [.refused] }
        let body = randomBody(&rng, max: 64 * 1024)
        guard c.send(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body) else {
            return [.closedBeforeAnswer]
        }
        return [c.outcome(expecting: body)]
    }

    func postChunked(_ rng: inout SplitMix) -> [SoakOutcome] {
        guard let c = connect() else { return [.refused] }
        let body = randomBody(&rng, max: 32 * 1024)
        var wire = Array("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        var i = 0
        while i < body.count {
            let n = min(body.count - i, 1 + rng.next(4096))
            wire += Array(String(n, radix: 16).utf8) + [13, 10] + body[i..<(i + n)] + [13, 10]
            i += n
        }
        wire += Array("0\r\n\r\n".utf8)
        guard c.send(wire) else { return [.closedBeforeAnswer] }
        return [c.outcome(expecting: body)]
    }

    func expectContinue(_ rng: inout SplitMix) -> [SoakOutcome] {
        guard let c = connect() else { return [.refused] }
        let body = randomBody(&rng, max: 8 * 1024)
        guard c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\nExpect: 100-continue\r\n\r\n") else {
            return [.closedBeforeAnswer]
        }
        guard let interim = c.readResponse(skipContinue: false) else { return [c.hasPartial ? .wrong("cut interim") : .closedBeforeAnswer] }
        if interim.status == 503 { return [.unavailable] }
        guard interim.status == 100 else { return [.wrong("status \(interim.status) before the body")] }
        guard c.send(body) else { return [.closedBeforeAnswer] }
        return [c.outcome(expecting: body)]
    }

    func delayed(_ rng: inout SplitMix) -> [SoakOutcome] {
        guard let c = connect() else { return [.refused] }
        guard c.send("GET /delay?ms=\(20 + rng.next(280)) HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n") else {
            return [.closedBeforeAnswer]
        }
        let first = c.outcome(expecting: Array("delayed\n".utf8))
        guard first == .ok else { return [first] }
        return [first, c.outcome(expecting: Self.hello)]
    }

    /// A large echo read a few KiB at a time.
    func slowReader(_ rng: inout SplitMix) -> [SoakOutcome] {
        guard let c = connect() else { return [.refused] }
        let body = randomBody(&rng, max: 256 * 1024)
        guard c.send(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body) else {
            return [.closedBeforeAnswer]
        }
        return [c.outcome(expecting: body, slowly: true)]
    }

    /// Clients that leave mid-request or mid-response: nothing to check but the server's health.
    func vanishing(_ rng: inout SplitMix) -> [SoakOutcome] {
        guard let c = connect() else { return [.refused] }
        switch rng.next(3) {
        case 0: _ = c.send("GET / HTTP/1.1\r\nHo")
        case 1: _ = c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nabc")
        default: _ = c.send(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n".utf8) + [UInt8](repeating: 1, count: 200_000))
        }
        usleep(UInt32(rng.next(20_000)))
        return []
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ n: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(max(1, n)))
    }
}

/// The primary's live children (its workers), from /proc.
func childPIDs(of pid: Int32) -> [Int32] {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else { return [] }
    return text.split(separator: " ").compactMap { Int32($0) }
}

@Suite("Chaos soak", .serialized)
struct ChaosSoakTests {
    static var seconds: Double { Double(ProcessInfo.processInfo.environment["SOAK_SECONDS"] ?? "") ?? 15 }

    /// Both round-robin hand-off paths, the ring's and SCM_RIGHTS'.
    @Test(arguments: ["round-robin", "round-robin+message", "shared", "reuseport"])
    func clientMixUnderKillsAndSignals(_ mode: String) throws {
        let server = try ServerProcess(["--workers", "4", "--shutdown-timeout", "5s"] + modeArguments(mode))
        let primary = server.process.processIdentifier
        let load = SoakLoad(port: server.port, seconds: Self.seconds)
        var killed: Set<Int32> = []
        var signals: [String: Int] = [:]
        var rng = SplitMix(seed: UInt64(mode.utf8.count))
        while Date() < load.deadline.addingTimeInterval(-1) {
            usleep(UInt32(300_000 + rng.next(900_000)))
            let workers = childPIDs(of: primary)
            switch rng.next(6) {
            case 0, 1, 2:
                if workers.count > 1, let victim = workers.randomElement() {
                    load.noteKill()
                    kill(victim, SIGKILL)
                    killed.insert(victim)
                    signals["kill -9", default: 0] += 1
                }
            case 3:
                kill(primary, SIGHUP)
                signals["SIGHUP", default: 0] += 1
            case 4:
                if workers.count < 6 { kill(primary, SIGTTIN); signals["SIGTTIN", default: 0] += 1 }
            default:
                if workers.count > 2 { kill(primary, SIGTTOU); signals["SIGTTOU", default: 0] += 1 }
            }
        }
        load.finish()
        let primaryAlive = server.process.isRunning
        // A graceful stop: every worker drains and exits 0, so the primary exits 0.
        kill(primary, SIGTERM)
        let stopped = waitFor(seconds: 15) { !server.process.isRunning }
        let log = server.stopAndCollectErrors()
        let total = load.total
        print("chaos soak, \(mode), \(Int(Self.seconds)) s, faults \(signals.sorted { $0.key < $1.key }):")
        for (kind, counts) in load.counts.sorted(by: { $0.key < $1.key }) {
            print("  \(kind): " + counts.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", "))
        }
        // Deaths the driver did not cause.
        let deaths = log.split(separator: "\n").filter { $0.contains(" died: ") }
        let unexpected = deaths.filter { line in !killed.contains { line.contains("worker \($0) died: killed by signal 9") } }
        #expect(primaryAlive, "the primary died")
        #expect(unexpected.isEmpty, "\(unexpected.prefix(5))")
        #expect(load.problems.isEmpty, "\(load.problems)")
        #expect((total[.ok] ?? 0) > 0)
        #expect(stopped != nil, "the graceful stop did not end")
        #expect(server.process.terminationStatus == 0, "exit \(server.process.terminationStatus)")
    }
}
