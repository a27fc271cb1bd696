import Foundation
import Glibc
import Testing

/// `--listen-fd N` and systemd socket activation: the cluster serves a listening socket it
/// inherited (Node's `listen({fd})`). Foundation's Process closes inherited descriptors, so
/// these tests spawn through /bin/sh with posix_spawn and hand the socket over as fd 3.
@Suite struct ListenFDTests {
    /// A listening socket on 127.0.0.1 with a free port.
    static func makeListener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 128) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw TestFailure("listener: errno \(errno)") }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// Runs `script` under /bin/sh with `fd` as descriptor 3; returns the pid and a pipe
    /// reading the child's standard output.
    static func spawnShell(_ script: String, passing fd: Int32) throws -> (pid: pid_t, output: FileHandle) {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw TestFailure("pipe") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let high = fcntl(fd, F_DUPFD_CLOEXEC, 20)  // dup2 onto 3 in the child clears close-on-exec
        posix_spawn_file_actions_adddup2(&actions, high, 3)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(script), nil]
        defer { for p in argv { free(p) } }
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ)
        close(high)
        close(pipeFDs[1])
        guard rc == 0 else { throw TestFailure("posix_spawn: \(rc)") }
        return (pid, FileHandle(fileDescriptor: pipeFDs[0], closeOnDealloc: true))
    }

    func check(script: String) throws {
        let (fd, port) = try Self.makeListener()
        defer { close(fd) }
        let (pid, output) = try Self.spawnShell(script, passing: fd)
        defer {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        let ready = try ServerProcess.readLine(output, timeoutSeconds: 20)
        #expect(ready == "listening on http://127.0.0.1:\(port)")
        for _ in 0..<10 {
            #expect(try fetch(port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").text == "hello world\n")
        }
        let stats = try clusterStats(port)
        #expect(stats.workers.count == 2)
        #expect(stats.workers.map(\.requests).reduce(0, +) == 10)
    }

    @Test(arguments: ["round-robin", "shared"])
    func listenFDIsServed(_ mode: String) throws {
        try check(script: "exec '\(ServerProcess.binary)' serve --listen-fd 3 --workers 2 --mode \(mode)")
    }

    @Test func systemdSocketActivationIsServed() throws {
        try check(script: "LISTEN_PID=$$ LISTEN_FDS=1 exec '\(ServerProcess.binary)' serve --workers 2")
    }

    /// The inherited listener is the primary's alone: it used to leak into every worker
    /// (not close-on-exec), where nothing would ever close it.
    @Test func workersDoNotInheritTheListenFD() throws {
        let (fd, port) = try Self.makeListener()
        defer { close(fd) }
        let (pid, output) = try Self.spawnShell("exec 7<&3 3<&-; exec '\(ServerProcess.binary)' serve --listen-fd 7 --workers 2", passing: fd)
        defer {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        #expect(try ServerProcess.readLine(output, timeoutSeconds: 20) == "listening on http://127.0.0.1:\(port)")
        let inode = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/7")
        #expect(inode.hasPrefix("socket:"))
        let workers = try clusterStats(port).workers.map(\.pid)
        #expect(workers.count == 2)
        for worker in workers {
            let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(worker)/fd")
            let sockets = fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(worker)/fd/\($0)") }
            #expect(!sockets.contains(inode), "worker \(worker) holds the listener")
        }
    }

    @Test func listenFDThatIsNotAListenerIsRefused() throws {
        let (status, _, stderr) = try runBinary(["serve", "--listen-fd", "0"])
        #expect(status != 0)
        #expect(stderr.contains("not a listening socket"))
    }
}
