import Foundation
import Glibc

/// Sequential requests on new connections from a background thread, for a bounded time,
/// counting answers and failures: the load under which supervision tests send signals.
final class ChurnLoad: @unchecked Sendable {
    private let lock = NSLock()
    private var ok = 0
    private var failed = 0
    /// The first few failures, for the report.
    private(set) var failures: [String] = []
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(port: Int, clients: Int = 2, seconds: Double) {
        self.clients = clients
        let deadline = Date().addingTimeInterval(seconds)
        for _ in 0..<clients {
            Thread.detachNewThread { [self] in
                while Date() < deadline && isRunning {
                    var problem: String? = nil
                    do {
                        let r = try fetch(port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                        if r.status != 200 { problem = "status \(r.status)" }
                    } catch {
                        problem = "\(error)"
                    }
                    lock.lock()
                    if let problem {
                        failed += 1
                        if failures.count < 5 { failures.append(problem) }
                    } else {
                        ok += 1
                    }
                    lock.unlock()
                    usleep(500)  // a steady load, not a flood of TIME_WAIT sockets
                }
                done.signal()
            }
        }
    }

    private let clients: Int
    private var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }

    /// Waits for the load to end; returns (answered, failed).
    func finish() -> (ok: Int, failed: Int) {
        for _ in 0..<clients { done.wait() }
        lock.lock(); defer { lock.unlock() }
        return (ok, failed)
    }
}

/// wrk's summary of one bounded run against 127.0.0.1.
struct WrkResult {
    let requests: Int
    let socketErrors: Int
    let non2xx: Int
    let output: String
}

/// Runs wrk for `seconds` in the background; `during` runs meanwhile (after `delay`).
func runWrk(port: Int, seconds: Int, connections: Int = 16, close: Bool = false,
            delay: Double, during: () -> Void) throws -> WrkResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
    p.arguments = ["-t1", "-c\(connections)", "-d\(seconds)s"] + (close ? ["-H", "Connection: close"] : [])
        + ["http://127.0.0.1:\(port)/"]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    usleep(UInt32(delay * 1_000_000))
    during()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    /// The last number in the first match of `pattern`.
    func number(_ pattern: String) -> Int {
        guard let r = text.range(of: pattern, options: .regularExpression) else { return 0 }
        return text[r].split(separator: " ").compactMap { Int($0.filter(\.isNumber)) }.last ?? 0
    }
    var socketErrors = 0
    if let line = text.split(separator: "\n").first(where: { $0.contains("Socket errors") }) {
        socketErrors = line.split(separator: " ").compactMap { Int($0.filter(\.isNumber)) }.reduce(0, +)
    }
    return WrkResult(requests: number("[0-9]+ requests in"), socketErrors: socketErrors,
                     non2xx: number("Non-2xx or 3xx responses: [0-9]+"), output: text)
}

/// Polls `condition` every 50 ms up to `seconds`; returns how long it took, nil if never.
func waitFor(seconds: Double, _ condition: () -> Bool) -> Double? {
    let start = Date()
    while Date().timeIntervalSince(start) < seconds {
        if condition() { return Date().timeIntervalSince(start) }
        usleep(50_000)
    }
    return nil
}

/// CPU seconds (user + system) a process has used, from /proc.
func cpuSeconds(_ pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
    return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Connection-per-request clients that go on through a server's stop, classifying every
/// attempt: answered (200), unavailable (503), refused at connect time (the server no
/// longer takes connections), or lost: connected, then closed or reset without a complete
/// response. Each client stops at its first refusal or at the deadline.
final class StopLoad: @unchecked Sendable {
    struct Counts: CustomStringConvertible {
        var answered = 0, unavailable = 0, refused = 0, lost = 0
        var description: String { "\(answered) answered, \(unavailable) answered 503, \(refused) refused at connect, \(lost) lost" }
    }
    private let lock = NSLock()
    private var counts = Counts()
    private let done = DispatchSemaphore(value: 0)
    private let clients: Int

    init(port: Int, clients: Int, seconds: Double) {
        self.clients = clients
        let deadline = Date().addingTimeInterval(seconds)
        for _ in 0..<clients {
            Thread.detachNewThread { [self] in
                while Date() < deadline {
                    let outcome = Self.attempt(port)
                    lock.lock()
                    switch outcome {
                    case 200: counts.answered += 1
                    case 503: counts.unavailable += 1
                    case 0: counts.refused += 1
                    default: counts.lost += 1
                    }
                    lock.unlock()
                    if outcome == 0 { break }
                }
                done.signal()
            }
        }
    }

    /// 200 or 503 for a response, 0 for a refused connect, -1 for a lost connection.
    static func attempt(_ port: Int) -> Int {
        // A connect to a listener that drops new SYNs waits for a retry: bounded by the timeout.
        let fd = connectLoopback(port: port, timeoutSeconds: 5).fd
        if fd < 0 { return 0 }
        defer { close(fd) }
        let request = Array("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return -1 }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }  // a signal to the test process, not the server
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        if text.hasPrefix("HTTP/1.1 200 "), text.hasSuffix("hello world\n") { return 200 }
        if text.hasPrefix("HTTP/1.1 503 "), text.hasSuffix("\n") { return 503 }
        return -1
    }

    func finish() -> Counts {
        for _ in 0..<clients { done.wait() }
        lock.lock(); defer { lock.unlock() }
        return counts
    }
}
