import Foundation
import Glibc

/// A real `uring-cluster serve` process for a test: started with the given flags, ready
/// once it printed its `listening on` line, stopped (SIGKILL as a last resort) on `stop()`.
final class ServerProcess {
    let process = Process()
    let output = Pipe()
    let errors = Pipe()
    private(set) var port: Int = 0
    private(set) var readyLine = ""

    /// The built binary: $URING_CLUSTER_BIN, or `uring-cluster` beside the test bundle.
    static var binary: String { product("uring-cluster", override: "URING_CLUSTER_BIN") }

    /// An executable built by this package, found beside the test bundle.
    static func product(_ name: String, override: String? = nil) -> String {
        if let override, let path = ProcessInfo.processInfo.environment[override] { return path }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // The test binary sits in .build/<triple>/debug/<name>.xctest (a file on Linux).
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return ".build/debug/\(name)"
    }

    /// Starts `uring-cluster serve --port 0 ARGUMENTS` and waits for its ready line.
    convenience init(_ arguments: [String], environment: [String: String] = [:]) throws {
        try self.init(program: Self.binary, ["serve", "--port", "0"] + arguments, environment: environment)
    }

    /// Starts another program of this package that prints the same ready line (an example).
    /// `afterStart`: runs once the process is started, before its ready line is awaited
    /// (a socket activator starts the server only once a client connects).
    init(program: String, _ arguments: [String], environment: [String: String] = [:],
         afterStart: (() throws -> Void)? = nil) throws {
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        try afterStart?()
        readyLine = try Self.readLine(output.fileHandleForReading, timeoutSeconds: 20)
        guard readyLine.hasPrefix("listening on http://"),
              let p = Int(readyLine.split(separator: ":").last ?? "") else {
            stop()
            throw TestFailure("server did not become ready: \(readyLine.debugDescription)")
        }
        port = p
    }

    deinit { stop() }

    /// Stops the server and returns everything it wrote to standard error.
    func stopAndCollectErrors() -> String {
        stop()
        return String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<200 where process.isRunning { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Reads one line from a pipe, bounded in time.
    static func readLine(_ handle: FileHandle, timeoutSeconds: Double) throws -> String {
        let fd = handle.fileDescriptor
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) <= 0 { continue }
            var byte: UInt8 = 0
            let n = read(fd, &byte, 1)
            if n <= 0 { break }
            if byte == 10 { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs the binary to completion (for argument errors) and returns status, stdout, stderr.
/// `wrapper` runs it under another program (`restricted`, `setarch`) that execs it.
func runBinary(_ arguments: [String], under wrapper: [String] = [], program: String = ServerProcess.binary,
               environment: [String: String] = [:], timeoutSeconds: Double = 10) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    let command = wrapper + [program] + arguments
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    p.executableURL = URL(fileURLWithPath: command[0])
    p.arguments = Array(command.dropFirst())
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning { p.terminate() }
    p.waitUntilExit()
    let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (p.terminationStatus, o, e)
}
