import CLiburing
import Glibc

/// Listening sockets and the few socket options this project sets. All synchronous:
/// they run at start-up, not on the request path.
public enum Socket {
    /// Whether `host` is an address `listen` takes: an IPv4 or IPv6 literal (no names).
    public static func isAddressLiteral(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// `host` as it stands before `:port` in a URL or a message: IPv6 in brackets.
    public static func shown(host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }

    /// Opens a TCP listener on an IPv4 or IPv6 literal address. Port 0 picks a free port.
    public static func listen(host: String, port: UInt16, backlog: Int32 = 4096,
                              reusePort: Bool = false) throws(SystemError) -> Int32 {
        var addr4 = sockaddr_in()
        var addr6 = sockaddr_in6()
        let isV6: Bool
        if inet_pton(AF_INET, host, &addr4.sin_addr) == 1 {
            isV6 = false
            addr4.sin_family = sa_family_t(AF_INET)
            addr4.sin_port = port.bigEndian
        } else if inet_pton(AF_INET6, host, &addr6.sin6_addr) == 1 {
            isV6 = true
            addr6.sin6_family = sa_family_t(AF_INET6)
            addr6.sin6_port = port.bigEndian
        } else {
            throw SystemError("inet_pton(\(host))", .invalidArgument)
        }
        let fd = try syscall("socket") {
            socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SystemError) {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if reusePort { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            if isV6 {
                try syscall("bind") {
                    withUnsafePointer(to: &addr6) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                        }
                    }
                }
            } else {
                try syscall("bind") {
                    withUnsafePointer(to: &addr4) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                }
            }
            try syscall("listen") { Glibc.listen(fd, backlog) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        var v = value
        try syscall("setsockopt") { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// The port a bound socket got (for `--port 0`).
    public static func localPort(_ fd: Int32) throws(SystemError) -> UInt16 {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try syscall("getsockname") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
        }
        return withUnsafePointer(to: &storage) { p -> UInt16 in
            if Int32(p.pointee.ss_family) == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    /// Whether a descriptor is a listening stream socket (for `--listen-fd`).
    public static func isListening(_ fd: Int32) -> Bool {
        var v: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v != 0
    }

    /// Stops a listener from taking new connections while those already queued (and
    /// handshakes already under way) can still be accepted: a classic BPF filter that
    /// drops every TCP segment with SYN set. A client that arrives now stays in SYN_SENT
    /// and, once the listener is closed, is refused on its SYN retry (ECONNREFUSED about
    /// a second later) instead of being reset after a handshake nobody will answer.
    /// Segments completing an earlier handshake (ACK without SYN) pass.
    public static func refuseNewConnections(_ fd: Int32) throws(SystemError) {
        // At a TCP socket's filter, offset 0 is the TCP header; byte 13 holds its flags.
        var program: [SocketFilterInstruction] = [
            SocketFilterInstruction(code: 0x30, jt: 0, jf: 0, k: 13),          // ldb [13]
            SocketFilterInstruction(code: 0x45, jt: 0, jf: 1, k: 0x02),        // jset #SYN
            SocketFilterInstruction(code: 0x06, jt: 0, jf: 0, k: 0),           // ret #0: drop
            SocketFilterInstruction(code: 0x06, jt: 0, jf: 0, k: 0xFFFF_FFFF), // ret #-1: keep
        ]
        try program.withUnsafeMutableBufferPointer { instructions throws(SystemError) in
            var fprog = SocketFilterProgram(length: UInt16(instructions.count), filter: instructions.baseAddress!)
            try syscall("setsockopt(SO_ATTACH_FILTER)") {
                setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, socklen_t(MemoryLayout<SocketFilterProgram>.size))
            }
        }
    }

    /// How many connections wait in a listener's accept queue now (what `ss -lt` shows as
    /// Recv-Q: TCP_INFO's tcpi_unacked for a listening socket), or nil if unknown.
    public static func acceptQueueLength(_ fd: Int32) -> Int? {
        var info = tcp_info()
        var len = socklen_t(MemoryLayout<tcp_info>.size)
        guard (try? syscall("getsockopt(TCP_INFO)", { getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &len) })) != nil
        else { return nil }
        return Int(info.tcpi_unacked)
    }

    /// Accepts, without blocking, up to `limit` connections queued on a listener this
    /// process alone serves (O_NONBLOCK is set on the open file for the sweep, and every
    /// other holder would see it), calling `body` with each. The fallback for kernels
    /// without IORING_ACCEPT_DONTWAIT (before 6.10); Acceptor uses it for exclusive
    /// listeners only.
    public static func acceptQueuedExclusively(_ fd: Int32, limit: Int, _ body: (Int32) -> Void) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        var taken = 0
        while taken < limit {
            let c = accept(fd, nil, nil)  // accept4 is not imported; close-on-exec is set after
            if c < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)  // as every accepted connection (acceptFlags)
            taken += 1
            body(c)
        }
    }

    /// The flags every connection is accepted with: SOCK_NONBLOCK (see Ring.acceptMultishot).
    public static var acceptFlags: Int32 { Int32(SOCK_NONBLOCK.rawValue) }

    /// Clears O_NONBLOCK on an open file: a regular file's reads then queue to io-wq on a
    /// page-cache miss on every filesystem, not only those that can read without blocking.
    public static func clearNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK != 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
    }

    /// TCP_NODELAY: a response leaves in one segment at once, not after Nagle's wait for the
    /// previous segment's ACK. Set on a listener, it is inherited by every connection
    /// accepted from it (checked on Linux 6.18), which is how Acceptor uses it. Best effort.
    public static func setNoDelay(_ fd: Int32) {
        _ = try? setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    public enum Direction {
        case write, both
        var how: Int32 { self == .write ? Int32(SHUT_WR) : Int32(SHUT_RDWR) }
    }

    /// shutdown(2). Best effort: ENOTCONN (the peer is gone) is the only expected failure.
    public static func shutdown(_ fd: Int32, _ direction: Direction) {
        _ = try? syscall("shutdown") { Glibc.shutdown(fd, direction.how) }
    }

    /// One send that never blocks and never raises SIGPIPE, for a short answer on a fresh
    /// socket (its buffer is empty). Returns the bytes sent, or nil.
    @discardableResult
    public static func sendNow(_ fd: Int32, _ bytes: UnsafeRawPointer, count: Int) -> Int? {
        try? syscall("send") { Glibc.send(fd, bytes, count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
    }
}

/// `struct sock_filter` of <linux/filter.h> (not imported by Glibc).
struct SocketFilterInstruction {
    var code: UInt16
    var jt: UInt8
    var jf: UInt8
    var k: UInt32
}

/// `struct sock_fprog` of <linux/filter.h>.
struct SocketFilterProgram {
    var length: UInt16
    var filter: UnsafeMutablePointer<SocketFilterInstruction>
}
