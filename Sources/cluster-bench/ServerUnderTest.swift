import BenchKit
import Foundation
import Glibc

/// One server started for a round: uring-cluster, nginx, or Node's cluster example.
final class ServerUnderTest {
    let target: BenchTarget
    let process = Process()
    let port: Int
    let scratch: URL

    init(_ target: BenchTarget, plan: Plan) throws {
        self.target = target
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-bench-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let pin = plan.serverCpus.map { ["taskset", "-c", $0] } ?? []
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.standardError = FileHandle.nullDevice
        switch target.target {
        case "uring-cluster":
            let out = Pipe()
            process.standardOutput = out
            var args = [plan.binary, "serve", "--port", "0", "--workers", String(target.workers), "--mode", target.mode,
                        "--max-connections", "20000"]
            if target.mode == "round-robin" { args += ["--balance", target.balance] }
            process.arguments = pin + args
            try process.run()
            let line = Self.readLine(out.fileHandleForReading, seconds: 30)
            guard line.hasPrefix("listening on"), let p = Int(line.split(separator: ":").last ?? "") else {
                process.terminate()
                throw BenchError("uring-cluster did not start: \(line.debugDescription)")
            }
            port = p
        case "nginx", "nginx-reuseport":
            port = try Self.freePort()
            let conf = scratch.appendingPathComponent("nginx.conf")
            try nginxConfig(workers: target.workers, port: port, reuseport: target.target == "nginx-reuseport")
                .write(to: conf, atomically: true, encoding: .utf8)
            process.standardOutput = FileHandle.nullDevice
            process.arguments = pin + [Tools.nginx!, "-p", scratch.path, "-c", conf.path]
            try process.run()
            try Self.waitForPort(port)
        default:  // node-cluster
            port = try Self.freePort()
            let script = scratch.appendingPathComponent("cluster.js")
            try Self.nodeScript.write(to: script, atomically: true, encoding: .utf8)
            var env = ProcessInfo.processInfo.environment
            env["PORT"] = String(port)
            env["WORKERS"] = String(target.workers)
            process.environment = env
            process.standardOutput = FileHandle.nullDevice
            process.arguments = pin + ["node", script.path]
            try process.run()
            try Self.waitForPort(port)
        }
    }

    /// The server's processes: the one started and its descendants (workers).
    var pids: [Int32] {
        var all: [Int32] = []
        var queue = [process.processIdentifier]
        while let p = queue.popLast() {
            all.append(p)
            let children = (try? String(contentsOfFile: "/proc/\(p)/task/\(p)/children", encoding: .utf8)) ?? ""
            queue += children.split(separator: " ").compactMap { Int32($0) }
        }
        return all
    }

    /// The process that owns the others (the primary, nginx's master), for the primary share.
    var primaryPID: Int32 {
        // `env` execs the server (and taskset execs it too), so the pid is the server's own.
        process.processIdentifier
    }

    func stop() {
        if process.isRunning {
            // SIGTERM: uring-cluster drains; nginx (daemon off) and node exit too.
            kill(process.processIdentifier, target.target.hasPrefix("nginx") ? SIGQUIT : SIGTERM)
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning {
                for p in pids { kill(p, SIGKILL) }
            }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: scratch)
    }

    func nginxConfig(workers: Int, port: Int, reuseport: Bool) -> String {
        """
        worker_processes \(workers);
        daemon off;
        pid \(scratch.path)/nginx.pid;
        error_log \(scratch.path)/error.log crit;
        worker_rlimit_nofile 20000;
        events { worker_connections 10000; }
        http {
          access_log off;
          keepalive_requests 1000000;
          client_body_temp_path \(scratch.path)/body;
          proxy_temp_path \(scratch.path)/proxy;
          fastcgi_temp_path \(scratch.path)/fastcgi;
          uwsgi_temp_path \(scratch.path)/uwsgi;
          scgi_temp_path \(scratch.path)/scgi;
          server {
            listen 127.0.0.1:\(port)\(reuseport ? " reuseport" : "");
            location / { default_type text/plain; return 200 "hello world\\n"; }
          }
        }

        """
    }

    /// The seed's example (Node's cluster documentation), plus /burn for the skewed scenario.
    static let nodeScript = """
    const cluster = require('node:cluster');
    const http = require('node:http');
    const workers = Number(process.env.WORKERS) || 2;
    const port = Number(process.env.PORT) || 8000;
    if (cluster.isPrimary) {
      for (let i = 0; i < workers; i++) cluster.fork();
      cluster.on('exit', (worker) => console.log(`worker ${worker.process.pid} died`));
    } else {
      http.createServer((req, res) => {
        if (req.url.startsWith('/burn')) {
          const us = Number(new URL(req.url, 'http://x').searchParams.get('us')) || 0;
          const end = process.hrtime.bigint() + BigInt(us) * 1000n;
          while (process.hrtime.bigint() < end) {}
        }
        res.writeHead(200);
        res.end('hello world\\n');
      }).listen(port, '127.0.0.1');
    }

    """

    static func readLine(_ handle: FileHandle, seconds: Double) -> String {
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        let fd = handle.fileDescriptor
        while Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) <= 0 { continue }
            var b: UInt8 = 0
            if read(fd, &b, 1) <= 0 { break }
            if b == 10 { break }
            bytes.append(b)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw BenchError("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func waitForPort(_ port: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let fd = connectLoopback(port: port) {
                close(fd)
                return
            }
            usleep(50_000)
        }
        throw BenchError("nothing listens on port \(port) after 30 s")
    }
}

/// A TCP connection to 127.0.0.1:port with a receive timeout, or nil when refused.
func connectLoopback(port: Int, receiveTimeoutSeconds: Int = 5) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var tv = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if rc != 0 {
        close(fd)
        return nil
    }
    return fd
}
