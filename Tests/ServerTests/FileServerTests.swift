import Foundation
import Glibc
import Testing

/// A directory tree for a file server test: `root` is served; `outside` sits beside it
/// and holds what no request may read.
final class FileTree {
    let base: String
    var root: String { base + "/root" }
    var outside: String { base + "/outside" }
    static let secret = "the secret outside the root\n"

    /// `under`: where the tree goes (a tmpfs such as /dev/shm for what ext4 cannot store).
    init(under parent: String = NSTemporaryDirectory()) throws {
        base = parent + "/files-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fm = FileManager.default
        for dir in ["root/sub", "root/noindex", "root/deep/er", "outside"] {
            try fm.createDirectory(atPath: base + "/" + dir, withIntermediateDirectories: true)
        }
        try write("root/a.txt", "hello file\n")
        try write("root/page.html", "<h1>page</h1>\n")
        try write("root/sub/index.html", "<h1>sub index</h1>\n")
        try write("root/deep/er/x.css", "body{}\n")
        try write("root/.env", "hidden\n")
        try write("outside/secret.txt", Self.secret)
        try fm.createSymbolicLink(atPath: root + "/escape", withDestinationPath: outside + "/secret.txt")
        try fm.createSymbolicLink(atPath: root + "/relative-escape", withDestinationPath: "../outside/secret.txt")
        try fm.createSymbolicLink(atPath: root + "/inside", withDestinationPath: "a.txt")
        try fm.createSymbolicLink(atPath: root + "/outdir", withDestinationPath: outside)
        guard mkfifo(root + "/fifo", 0o644) == 0 else { throw TestFailure("mkfifo") }
    }

    func write(_ relative: String, _ text: String) throws {
        try text.write(toFile: base + "/" + relative, atomically: false, encoding: .utf8)
    }

    /// A file of `count` pseudo-random bytes (a pattern no two offsets share locally).
    func writeLarge(_ relative: String, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in 0..<count {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            bytes[i] = UInt8(truncatingIfNeeded: x)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: base + "/" + relative))
        return bytes
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }
}

final class StopFlag: @unchecked Sendable {
    let lock = NSLock()
    var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

func get(_ port: Int, _ target: String, _ extra: String = "", method: String = "GET") throws -> TestResponse {
    try fetch(port, "\(method) \(target) HTTP/1.1\r\nHost: t\r\n\(extra)\r\n", isHead: method == "HEAD")
}

/// The files under `directory` a process holds open now (its pipes, sockets and ring are
/// not counted: a file server keeps a pool of pipes).
func openFiles(_ pid: Int32, under directory: String) -> Int {
    let dir = "/proc/\(pid)/fd"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return names.filter { ((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0)) ?? "").hasPrefix(directory) }.count
}

/// The descriptors a process holds now.
func descriptorCount(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}

/// The descriptors a process holds once the count stops moving (a file server closes a
/// file just after its answer leaves, so the count right after a response may still
/// include it). At most 2 s.
func settledDescriptorCount(_ pid: Int32) -> Int {
    var last = descriptorCount(pid)
    for _ in 0..<40 {
        usleep(50_000)
        let now = descriptorCount(pid)
        if now == last { return now }
        last = now
    }
    return last
}

/// The TCP state (as /proc/net/tcp numbers it: 1 established, 4 FIN-WAIT-1, …) of the
/// loopback socket whose local port is `local` and remote port `remote`; nil if none.
func tcpState(local: Int, remote: Int) -> Int? {
    guard let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return nil }
    for line in table.split(separator: "\n").dropFirst() {
        let f = line.split(separator: " ")
        guard f.count > 3, let l = f[1].split(separator: ":").last, let r = f[2].split(separator: ":").last,
              Int(l, radix: 16) == local, Int(r, radix: 16) == remote else { continue }
        return Int(f[3], radix: 16)
    }
    return nil
}

/// `serve --root`, over real sockets: what it serves, and every way of reading outside
/// the root that it refuses.
@Suite struct FileServerTests {
    @Test func servesFilesWithTheirTypeLengthAndValidators() throws {
        let tree = try FileTree()
        let server = try ServerProcess(["--root", tree.root])
        let r = try get(server.port, "/a.txt")
        #expect(r.status == 200)
        #expect(r.text == "hello file\n")
        #expect(r.header("content-type") == "text/plain; charset=utf-8")
        #expect(r.header("content-length") == "11")
        #expect(r.header("accept-ranges") == "bytes")
        #expect(r.header("etag")?.hasPrefix("\"") == true)
        let modified = try #require(r.header("last-modified"))
        #expect(modified.count == 29 && modified.hasSuffix(" GMT"))
        #expect(try get(server.port, "/page.html").header("content-type") == "text/html; charset=utf-8")
        #expect(try get(server.port, "/deep/er/x.css").text == "body{}\n")
        #expect(try get(server.port, "/inside").text == "hello file\n")  // a symlink that stays inside
        let head = try get(server.port, "/a.txt", method: "HEAD")
        #expect(head.status == 200 && head.header("content-length") == "11" && head.body.isEmpty)
    }

    @Test func directoriesIndexesAndMethods() throws {
        let tree = try FileTree()
        let server = try ServerProcess(["--root", tree.root])
        let moved = try get(server.port, "/sub?x=1")
        #expect(moved.status == 301)
        #expect(moved.header("location") == "/sub/?x=1")
        #expect(try get(server.port, "/sub/").text == "<h1>sub index</h1>\n")
        #expect(try get(server.port, "/noindex/").status == 403)  // no listings
        #expect(try get(server.port, "/").status == 403)
        #expect(try get(server.port, "/missing.txt").status == 404)
        #expect(try get(server.port, "/a.txt/more").status == 404)
        #expect(try get(server.port, "/.env").status == 404)
        #expect(try get(server.port, "/fifo").status == 403)  // answered, not a worker blocked on a FIFO
        let post = try get(server.port, "/a.txt", method: "POST")
        #expect(post.status == 405)
        #expect(post.header("allow") == "GET, HEAD")
    }

    /// From the cache and from the file: the same answers.
    @Test(arguments: [[], ["--file-cache-bytes", "0"]])
    func conditionalRequestsAndRanges(_ flags: [String]) throws {
        let tree = try FileTree()
        let server = try ServerProcess(["--root", tree.root] + flags)
        let first = try get(server.port, "/a.txt")
        let etag = try #require(first.header("etag"))
        let modified = try #require(first.header("last-modified"))
        let notModified = try get(server.port, "/a.txt", "If-None-Match: \(etag)\r\n")
        #expect(notModified.status == 304 && notModified.body.isEmpty && notModified.header("etag") == etag)
        #expect(notModified.header("content-length") == nil)
        #expect(try get(server.port, "/a.txt", "If-Modified-Since: \(modified)\r\n").status == 304)
        #expect(try get(server.port, "/a.txt", "If-None-Match: \"other\"\r\n").status == 200)
        let part = try get(server.port, "/a.txt", "Range: bytes=6-9\r\n")
        #expect(part.status == 206 && part.text == "file")
        #expect(part.header("content-range") == "bytes 6-9/11")
        #expect(try get(server.port, "/a.txt", "Range: bytes=-5\r\n").text == "file\n")
        let beyond = try get(server.port, "/a.txt", "Range: bytes=11-\r\n")
        #expect(beyond.status == 416 && beyond.header("content-range") == "bytes */11")
        #expect(try get(server.port, "/a.txt", "Range: bytes=0-1\r\nIf-Range: \(etag)\r\n").status == 206)
        #expect(try get(server.port, "/a.txt", "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n").status == 200)
        #expect(try get(server.port, "/a.txt", "Range: bytes=0-1,3-4\r\n").status == 200)
        #expect(try get(server.port, "/a.txt/").status == 404)
        let head = try get(server.port, "/a.txt", method: "HEAD")
        #expect(head.status == 200 && head.header("content-length") == "11" && head.body.isEmpty)
    }

    /// A cached file that changes is served new within the revalidation second (bounded: 5 s).
    @Test func aChangedFileIsServedNewAfterRevalidation() throws {
        let tree = try FileTree()
        let server = try ServerProcess(["--root", tree.root])
        #expect(try get(server.port, "/a.txt").text == "hello file\n")
        try tree.write("root/a.txt", "changed, and longer\n")
        var text = ""
        for _ in 0..<50 {
            text = try get(server.port, "/a.txt").text
            if text != "hello file\n" { break }
            usleep(100_000)
        }
        #expect(text == "changed, and longer\n")
    }

    static let tricks: [(String, Int)] = [
        ("/../outside/secret.txt", 400), ("/%2e%2e/outside/secret.txt", 400), ("/%2E%2e%2foutside%2fsecret.txt", 400),
        ("/..%2foutside/secret.txt", 400), ("/%252e%252e/outside/secret.txt", 400), ("/sub/../../outside/secret.txt", 400),
        ("/sub%5c..%5c..%5coutside%5csecret.txt", 400), ("/a.txt%00.html", 400), ("//etc/passwd", 400),
        ("http://t/../outside/secret.txt", 400), ("/escape", 403), ("/relative-escape", 403), ("/outdir/secret.txt", 403),
    ]

    @Test(arguments: [[], ["--file-cache-bytes", "0"]])
    func nothingOutsideTheRootCanBeRead(_ flags: [String]) throws {
        let tree = try FileTree()
        let server = try ServerProcess(["--root", tree.root] + flags)
        for (target, status) in Self.tricks {
            let r = try get(server.port, target)
            #expect(r.status == status, "\(target)")
            #expect(!r.text.contains("secret"), "\(target) leaked the secret")
        }
        // Still serving afterwards.
        #expect(try get(server.port, "/a.txt").status == 200)
    }

    /// A symlink swapped in between any check and the open: RESOLVE_BENEATH is applied by
    /// the kernel at each step of the walk, so the secret never comes back. Bounded: 1,500
    /// requests while another thread swaps the name between a file and a link out.
    @Test func aSymlinkSwappedInDuringRequestsNeverLeaks() throws {
        let tree = try FileTree()
        // No cache: every request opens the name again.
        let server = try ServerProcess(["--root", tree.root, "--file-cache-bytes", "0"])
        try tree.write("root/plain", "plain inside\n")
        try FileManager.default.createSymbolicLink(atPath: tree.root + "/link-out", withDestinationPath: tree.outside + "/secret.txt")
        let stop = StopFlag()
        let root = tree.root, secret = tree.outside + "/secret.txt"
        let swapper = Thread {
            // Renaming over the served name flips it atomically between the two.
            let name = root + "/swapped"
            var flip = false
            while !stop.isSet {
                if flip {
                    _ = symlink(secret, root + "/tmp-link")
                    _ = rename(root + "/tmp-link", name)
                } else {
                    _ = link(root + "/plain", root + "/tmp-file")
                    _ = rename(root + "/tmp-file", name)
                }
                flip.toggle()
            }
        }
        swapper.start()
        var served = 0, refused = 0
        for _ in 0..<1_500 {
            let r = try get(server.port, "/swapped")
            #expect(!r.text.contains("secret"))
            if r.status == 200 { served += 1 } else if r.status == 403 || r.status == 404 { refused += 1 }
        }
        stop.set()
        while !swapper.isFinished { usleep(1_000) }
        #expect(served + refused == 1_500)
    }

    /// A file larger than every buffer, whole and in order, in each way of sharing the port;
    /// the server holds no more descriptors afterwards than before.
    @Test(arguments: [["--workers", "0"], ["--workers", "2"], ["--workers", "2", "--mode", "shared"]])
    func aLargeFileArrivesWhole(_ flags: [String]) throws {
        let tree = try FileTree()
        let bytes = try tree.writeLarge("root/big.bin", count: 24 << 20)
        let server = try ServerProcess(["--root", tree.root] + flags)
        let pid = server.process.processIdentifier
        _ = try get(server.port, "/a.txt")
        let c = try TestConnection(port: server.port)
        try c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000000-1000009\r\n\r\n")
        let r = try #require(c.readResponse())
        #expect(r.status == 200 && r.body.count == bytes.count)
        #expect(r.body == bytes)
        let part = try #require(c.readResponse())
        #expect(part.status == 206 && part.body == Array(bytes[1_000_000..<1_000_010]))
        if flags == ["--workers", "0"] {
            // Connections are direct descriptors and pipes are pooled: only files would show.
            var open = openFiles(pid, under: tree.root + "/")
            for _ in 0..<40 where open > 0 {
                usleep(50_000)
                open = openFiles(pid, under: tree.root + "/")
            }
            #expect(open == 0)
        }
    }

    /// A client that reads a large file one byte at a time: the server holds at most one
    /// part and the connection's unsent bound for it, not the file, and the send-stall
    /// timeout (--header-timeout) closes the connection. The client cannot see that close
    /// (its FIN waits behind data the client has not made room for), so the server's side
    /// of the socket is watched in /proc/net/tcp: it leaves ESTABLISHED. Bounded: 30 s.
    @Test func aSlowReaderOfALargeFileIsCutWithMemoryBounded() throws {
        let tree = try FileTree()
        _ = try tree.writeLarge("root/big.bin", count: 64 << 20)
        let server = try ServerProcess(["--root", tree.root, "--workers", "0", "--header-timeout", "1s"])
        let pid = server.process.processIdentifier
        let before = try #require(residentPeak(pid))
        let c = try TestConnection(port: server.port, receiveTimeoutSeconds: 5)
        var small: Int32 = 4096
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        var received = 0
        var ended = false
        let deadline = Date().addingTimeInterval(30)
        var byte: UInt8 = 0
        while Date() < deadline {
            let n = recv(c.fd, &byte, 1, 0)
            if n <= 0 { ended = true; break }
            received += 1
            // Gone from the table (closed) or past ESTABLISHED: the server has cut it.
            if tcpState(local: server.port, remote: c.localPort) != 1 { ended = true; break }
            usleep(250_000)
        }
        #expect(ended, "the server never cut the slow reader")
        let after = try #require(residentPeak(pid))
        #expect(after - before < 16 << 20, "peak RSS grew by \(after - before) bytes for a 64 MiB file")
        #expect(try get(server.port, "/a.txt").status == 200)
    }

    /// Clients that leave mid-request and mid-response: every file the server opened for
    /// them is closed again, and its other descriptors stay within the pipe pool's bound.
    @Test func clientsThatVanishLeaveNoDescriptorBehind() throws {
        let tree = try FileTree()
        _ = try tree.writeLarge("root/big.bin", count: 8 << 20)
        let server = try ServerProcess(["--root", tree.root, "--workers", "0"])
        let pid = server.process.processIdentifier
        _ = try get(server.port, "/a.txt")
        let before = settledDescriptorCount(pid)
        for i in 0..<60 {
            let c = try TestConnection(port: server.port)
            switch i % 3 {
            case 0: try c.send("GET /big.bin HTTP/1.1\r\nHo")  // mid-request
            case 1:
                try c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")  // mid-response
                var chunk = [UInt8](repeating: 0, count: 4096)
                _ = recv(c.fd, &chunk, chunk.count, 0)
            default:
                try c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")  // before any byte of it
            }
            var linger = linger(l_onoff: 1, l_linger: 0)  // a reset, as a client that vanishes
            setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
        }
        var open = openFiles(pid, under: tree.root + "/")
        for _ in 0..<100 where open > 0 {
            usleep(50_000)
            open = openFiles(pid, under: tree.root + "/")
        }
        #expect(open == 0, "files left open")
        // Besides files, only the pool's idle pipes (at most 32, two descriptors each).
        #expect(settledDescriptorCount(pid) <= before + 64)
        #expect(try get(server.port, "/a.txt").status == 200)
    }

    /// Clients that stop reading a large file park no kernel thread: the drain to a full
    /// socket returns at once (the connection is O_NONBLOCK) and the transfer waits on a
    /// poll. Before, each such client held an io-wq thread blocked in the splice until the
    /// send-stall timeout. The server's io-wq threads are read in /proc: idle ones wait in
    /// io_wq_worker, a blocked one anywhere else.
    @Test func stalledReadersParkNoKernelThread() throws {
        let tree = try FileTree()
        _ = try tree.writeLarge("root/big.bin", count: 16 << 20)
        let server = try ServerProcess(["--root", tree.root, "--workers", "0", "--header-timeout", "30s"])
        let pid = server.process.processIdentifier
        var clients: [TestConnection] = []
        for _ in 0..<10 {
            let c = try TestConnection(port: server.port)
            try c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            clients.append(c)
        }
        usleep(2_000_000)  // the transfers fill the sockets, then stall
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var blocked: [String] = []
        for tid in tasks {
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8)) ?? ""
            let wchan = (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/wchan", encoding: .utf8)) ?? ""
            if comm.hasPrefix("iou-wrk") && wchan != "io_wq_worker" && wchan != "0" { blocked.append(wchan) }
        }
        #expect(blocked.isEmpty, "io-wq threads blocked: \(blocked)")
        #expect(clients.count == 10)
    }

    /// A file whose modification time is beyond year 9999 (tmpfs and btrfs allow it) is
    /// served, with the date clamped: its Last-Modified once trapped the worker.
    @Test func aFileFromTheFarFutureIsServed() throws {
        // tmpfs keeps a time ext4 would clamp to 2446.
        let tree = try FileTree(under: FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        var times = [timespec(tv_sec: 7_000_000_000_000, tv_nsec: 0), timespec(tv_sec: 7_000_000_000_000, tv_nsec: 0)]
        guard utimensat(AT_FDCWD, tree.root + "/a.txt", &times, 0) == 0 else {
            // The filesystem refuses such a time (ext4 stops at 2446): nothing to serve then.
            return
        }
        let server = try ServerProcess(["--root", tree.root, "--workers", "0"])
        let r = try get(server.port, "/a.txt")
        #expect(r.status == 200 && r.text == "hello file\n")
        var st = stat()
        stat(tree.root + "/a.txt", &st)
        if st.st_mtim.tv_sec > 253_402_300_799 { #expect(r.header("last-modified")?.contains("9999") == true) }
        #expect(try get(server.port, "/a.txt").status == 200)
    }


    /// A file cut short while it is sent: the Content-Length already sent cannot be kept,
    /// so the connection closes after what was there (never a hang, nor bytes of
    /// something else), and the server goes on serving.
    @Test func aFileThatShrinksWhileSentClosesTheConnection() throws {
        let tree = try FileTree()
        let bytes = try tree.writeLarge("root/big.bin", count: 32 << 20)
        let server = try ServerProcess(["--root", tree.root, "--workers", "0"])
        let c = try TestConnection(port: server.port, receiveTimeoutSeconds: 10)
        var small: Int32 = 16384
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while received.count < 1 << 20 {
            let n = recv(c.fd, &chunk, chunk.count, 0)
            guard n > 0 else { break }
            received += chunk[0..<n]
        }
        #expect(truncate(tree.root + "/big.bin", 2 << 20) == 0)
        var ended = false
        while received.count < bytes.count + 4096 {
            let n = recv(c.fd, &chunk, chunk.count, 0)
            if n == 0 || (n < 0 && errno == ECONNRESET) { ended = true; break }
            if n < 0 { break }  // the receive timeout: the server neither sent nor closed
            received += chunk[0..<n]
        }
        #expect(ended, "the connection neither ended nor went on")
        let headEnd = try #require(received.firstRange(of: Array("\r\n\r\n".utf8))).upperBound
        let body = Array(received[headEnd...])
        #expect(body.count < bytes.count, "all of the old file arrived: the cut was not seen")
        #expect(body == Array(bytes[0..<body.count]), "the body is the file's own bytes, in order")
        #expect(try get(server.port, "/a.txt").status == 200)
    }

}

/// A process's peak resident set (VmHWM), in bytes.
func residentPeak(_ pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
    return kb * 1024
}
