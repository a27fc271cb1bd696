import Foundation
import Glibc
import Testing

/// One process's credentials, from /proc/PID/status: Uid and Gid (real, effective, saved,
/// filesystem), the supplementary groups, and the effective capabilities.
struct Credentials: Equatable {
    var uids: [Int] = [], gids: [Int] = [], groups: [Int] = []
    var effectiveCapabilities: UInt64 = .max

    init(_ pid: Int32) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard let name = fields.first else { continue }
            let numbers = fields.dropFirst().compactMap { Int($0) }
            switch name {
            case "Uid:": uids = numbers
            case "Gid:": gids = numbers
            case "Groups:": groups = numbers
            case "CapEff:": effectiveCapabilities = UInt64(fields.last ?? "", radix: 16) ?? .max
            default: break
            }
        }
    }
}

func workerPIDs(_ primary: Int32) -> [Int32] {
    let list = (try? String(contentsOfFile: "/proc/\(primary)/task/\(primary)/children", encoding: .utf8)) ?? ""
    return list.split(separator: " ").compactMap { Int32($0) }
}

/// A free port below 1024 on 127.0.0.1 (only root can bind one), or nil.
func freeLowPort() -> Int? {
    for port in stride(from: 990, to: 900, by: -1) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if rc == 0 { return port }
    }
    return nil
}

/// `--user` and `--group`, started as root: every process gives up root after start, with
/// no capability in the workers, and the cluster goes on working (hand-offs through the
/// ring, a rolling restart, a graceful stop). Runs only as root.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to drop from"))
struct PrivilegesTests {
    static let nobody = 65534
    static let bindService: UInt64 = 1 << 10, networkAdmin: UInt64 = 1 << 12

    @Test func theClusterRunsAsTheUserWithItsLowPort() throws {
        let port = try #require(freeLowPort())
        let server = try ServerProcess(program: ServerProcess.binary,
                                       ["serve", "--port", String(port), "--workers", "2", "--handoff", "ring",
                                        "--user", "nobody", "--group", "nogroup"])
        let primary = server.process.processIdentifier
        #expect(server.port == port)
        let p = Credentials(primary)
        #expect(p.uids == [Self.nobody, Self.nobody, Self.nobody, Self.nobody] && p.gids == p.uids && p.groups == [Self.nobody])
        #expect(p.effectiveCapabilities == Self.bindService | Self.networkAdmin)
        let workers = workerPIDs(primary)
        #expect(workers.count == 2)
        for w in workers {
            let c = Credentials(w)
            #expect(c.uids == p.uids && c.gids == p.gids && c.groups == [Self.nobody] && c.effectiveCapabilities == 0, "worker \(w): \(c)")
        }
        // Hand-offs through the ring still work (pidfd_getfd of a worker of the same user).
        for _ in 0..<20 { #expect(try fetch(port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").status == 200) }
        // A rolling restart: the new workers are the user too, and serve.
        kill(primary, SIGHUP)
        var replaced = false
        for _ in 0..<100 where !replaced {
            usleep(100_000)
            let now = workerPIDs(primary)
            replaced = now.count == 2 && Set(now).isDisjoint(with: workers)
        }
        #expect(replaced)
        for w in workerPIDs(primary) { #expect(Credentials(w).uids.first == Self.nobody && Credentials(w).effectiveCapabilities == 0) }
        #expect(try fetch(port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        // A graceful stop with nothing to complain about (the SYN filter could be attached).
        let errors = server.stopAndCollectErrors()
        #expect(!errors.contains("could not stop new connections"), "\(errors)")
        #expect(server.process.terminationStatus == 0)
    }

    @Test func aLoneServerDropsEverythingAfterItsBind() throws {
        let port = try #require(freeLowPort())
        let server = try ServerProcess(program: ServerProcess.binary,
                                       ["serve", "--port", String(port), "--workers", "0", "--user", "nobody"])
        let c = Credentials(server.process.processIdentifier)
        #expect(c.uids.allSatisfy { $0 == Self.nobody } && c.effectiveCapabilities == 0)
        #expect(try fetch(port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
    }

    /// A root the user cannot reach is one line at start, in a cluster and alone alike: it
    /// is opened after the drop (a lone server once opened it as root, then served 403s).
    @Test(arguments: [["--workers", "0"], ["--workers", "2"]])
    func aRootTheUserCannotReachIsOneLine(_ flags: [String]) throws {
        let tree = try FileTree()
        chmod(tree.base, 0o700)
        let (status, _, stderr) = try runBinary(["serve", "--port", "0", "--root", tree.root, "--user", "nobody"] + flags)
        #expect(status == 1)
        expectOneErrorLine(stderr, naming: "permission denied")
    }

    /// Files are opened as the user: one only root may read is refused, not served.
    @Test func filesAreReadAsTheUser() throws {
        let tree = try FileTree()
        chmod(tree.base, 0o755)
        chmod(tree.root, 0o755)
        chmod(tree.root + "/a.txt", 0o644)
        try tree.write("root/private.txt", "root only\n")
        chmod(tree.root + "/private.txt", 0o600)
        let server = try ServerProcess(["--root", tree.root, "--workers", "2", "--user", "nobody"])
        #expect(try get(server.port, "/a.txt").text == "hello file\n")
        #expect(try get(server.port, "/private.txt").status == 403)
    }
}
