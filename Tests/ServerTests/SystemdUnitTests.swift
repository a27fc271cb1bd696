import Foundation
import Glibc
import Testing
import WebTesting

/// deploy/uring-cluster.socket and .service, run the way systemd runs them: the service's
/// own ExecStart line under `systemd-socket-activate` (Debian's systemd package), which
/// binds the socket unit's kind of listener, passes it as fd 3 with LISTEN_FDS and
/// LISTEN_PID, and execs the server. The stop is what KillMode=mixed sends: SIGTERM to
/// the main process only. Not exercised here: systemd itself (DynamicUser, the sandbox
/// settings, LogsDirectory, TimeoutStopSec's SIGKILL).
@Suite(.serialized) struct SystemdUnitTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy")

    /// `Key=value` lines of a unit file's section, in order (comments and blanks left out).
    static func settings(_ file: String, section: String) throws -> [(String, String)] {
        let text = try String(contentsOf: deploy.appendingPathComponent(file), encoding: .utf8)
        var inSection = false
        var out: [(String, String)] = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix("[") { inSection = line == "[\(section)]"; continue }
            guard inSection, let eq = line.firstIndex(of: "=") else { continue }
            out.append((String(line[..<eq]), String(line[line.index(after: eq)...])))
        }
        return out
    }

    static func value(_ settings: [(String, String)], _ key: String) -> String? {
        settings.last { $0.0 == key }?.1
    }

    static func seconds(_ text: String) -> Double? {
        if text.hasSuffix("ms") { return Double(text.dropLast(2)).map { $0 / 1000 } }
        if text.hasSuffix("s") { return Double(text.dropLast()) }
        return Double(text)
    }

    /// The service stops by a graceful drain, and systemd waits for it.
    @Test func theServiceStopsGracefullyAndWaitsLongEnough() throws {
        let service = try Self.settings("uring-cluster.service", section: "Service")
        #expect(Self.value(service, "KillMode") == "mixed")
        #expect(Self.value(service, "KillSignal") == "SIGTERM")
        #expect(Self.value(service, "ExecReload") == "/bin/kill -HUP $MAINPID")
        let exec = try #require(Self.value(service, "ExecStart")).split(separator: " ").map(String.init)
        func flag(_ name: String) -> Double? {
            exec.firstIndex(of: name).flatMap { exec.indices.contains($0 + 1) ? Self.seconds(exec[$0 + 1]) : nil }
        }
        let delay = try #require(flag("--drain-delay"))
        let timeout = try #require(flag("--shutdown-timeout"))
        let stop = try #require(Self.value(service, "TimeoutStopSec").flatMap(Self.seconds))
        #expect(stop > delay + timeout, "TimeoutStopSec \(stop) s must outlast the drain delay and the shutdown timeout")
        let socket = try Self.settings("uring-cluster.socket", section: "Socket")
        #expect(Self.value(socket, "ListenStream") != nil)
        #expect(Self.value(socket, "ReusePort") == "false")
    }

    @Test func theServiceServesTheActivatedSocketAndStopsCleanly() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate") else {
            Issue.record("systemd-socket-activate is missing: tools/setup.sh installs Debian's systemd package")
            return
        }
        let (probe, port) = try ListenFDTests.makeListener()
        close(probe)  // a free port for the activator to bind
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("systemd-\(getpid()).log").path
        defer { unlink(log) }
        let service = try Self.settings("uring-cluster.service", section: "Service")
        var exec = try #require(Self.value(service, "ExecStart")).split(separator: " ").map(String.init)
        #expect(exec.first == "/usr/local/bin/uring-cluster")
        exec[0] = ServerProcess.binary
        if let i = exec.firstIndex(of: "--access-log") { exec[i + 1] = log }
        // The unit's drain delay is for a real balancer; a second here keeps the test short.
        if let i = exec.firstIndex(of: "--drain-delay") { exec[i + 1] = "1s" }
        let socket = try Self.settings("uring-cluster.socket", section: "Socket")
        #expect(Self.value(socket, "ListenStream")?.hasSuffix(":8000") == true)
        // The activator starts the service when the first client connects (as systemd does
        // for a socket unit): that client waits in the socket's queue meanwhile.
        var first: TestClient? = nil
        let server = try ServerProcess(program: "/usr/bin/systemd-socket-activate", ["-l", "127.0.0.1:\(port)"] + exec) {
            for _ in 0..<200 where first == nil {
                first = try? TestClient(port: port)
                if first == nil { usleep(10_000) }
            }
            try first?.send("GET /?first HTTP/1.1\r\nHost: t\r\n\r\n")
        }
        defer { server.stop() }
        #expect(server.port == port, "served \(server.readyLine), not the activated socket")
        #expect(first?.readResponse()?.status == 200, "the connection that started the service was not served")
        #expect(try fetch(port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        #expect(try fetch(port, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        // What systemd's stop sends under KillMode=mixed: SIGTERM to the main process.
        kill(server.process.processIdentifier, SIGTERM)
        usleep(100_000)
        #expect(try fetch(port, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n").status == 503, "not draining for the balancer")
        #expect(try fetch(port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").status == 200, "stopped serving during the drain delay")
        for _ in 0..<1500 where server.process.isRunning { usleep(10_000) }
        #expect(!server.process.isRunning)
        #expect(server.process.terminationStatus == 0, "an unclean stop")
        let lines = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n") ?? []
        #expect(lines.count == 5 && lines.first?.contains("/?first") == true, "\(lines)")
    }
}
