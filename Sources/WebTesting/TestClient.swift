import Foundation
import Glibc

/// A response as the test client read it.
public struct TestResponse: Sendable {
    public let status: Int
    public let headers: [String: String]  // lowercased names; repeated fields joined with ", "
    public let body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// What went wrong on the client's side of a test.
public struct TestClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A blocking TCP client on loopback with a receive timeout, reading HTTP/1.1 responses
/// (Content-Length framed, as this server always sends) and keeping any bytes after one
/// response for the next, so pipelined responses can be read one by one.
public final class TestClient {
    public let fd: Int32
    private var pending: [UInt8] = []
    /// For a non-blocking descriptor whose server runs on this thread (TestHarness): called
    /// when a send or receive would block, to let the server take a turn; false gives up.
    let pump: (() -> Bool)?

    /// Connects to 127.0.0.1 (or `[::1]` with `ipv6`) on `port`.
    public init(port: Int, receiveTimeoutSeconds: Int = 10, ipv6: Bool = false) throws {
        let (fd, error) = connectLoopback(port: port, timeoutSeconds: receiveTimeoutSeconds, ipv6: ipv6)
        guard fd >= 0 else { throw TestClientError("connect: errno \(error)") }
        self.fd = fd
        pump = nil
    }

    /// A client on a descriptor it now owns, made non-blocking; `pump` runs the server.
    init(descriptor: Int32, pump: @escaping () -> Bool) {
        fd = descriptor
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        self.pump = pump
    }

    deinit { close(fd) }

    /// This end's port (what the server sees as the client's).
    public var localPort: Int {
        var address = sockaddr_in6()
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        // The port sits at the same offset in sockaddr_in and sockaddr_in6.
        return rc == 0 ? Int(UInt16(bigEndian: address.sin6_port)) : -1
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EAGAIN, let pump {
                guard pump() else { throw TestClientError("send: the server took nothing more") }
                continue
            }
            // A signal to the test process (another test's child exiting, say) interrupts a
            // socket call that has a timeout, even under SA_RESTART (signal(7)): retry.
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TestClientError("send: errno \(errno)") }
            sent += n
        }
    }

    /// Reads more bytes; returns false at EOF, a reset or the receive timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EAGAIN, let pump {
                guard pump() else { return false }
                continue
            }
            if n < 0 && errno == EINTR { continue }  // as in `send`
            guard n > 0 else { return false }
            pending.append(contentsOf: chunk[0..<n])
            return true
        }
    }

    /// Reads one response; nil when the connection ended (or timed out) before a whole one came.
    public func readResponse(isHead: Bool = false) -> TestResponse? {
        while true {
            if let end = headEnd() {
                let headText = String(decoding: pending[0..<end], as: UTF8.self)
                var lines = headText.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst()
                let parts = statusLine.split(separator: " ", maxSplits: 2)
                guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
                var headers: [String: String] = [:]
                for line in lines where !line.isEmpty {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    let name = line[..<colon].lowercased()
                    let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    headers[name] = headers[name].map { $0 + ", " + value } ?? value
                }
                let noBody = isHead || status == 100 || status == 204 || status == 304
                if !noBody, headers["transfer-encoding"]?.lowercased() == "chunked" {
                    guard let (body, used) = readChunked(from: end + 4) else { return nil }
                    pending.removeFirst(used)
                    return TestResponse(status: status, headers: headers, body: body)
                }
                if !noBody && headers["content-length"] == nil {
                    // Delimited by the close (an HTTP/1.0 stream).
                    while fill() {}
                    let body = Array(pending[(end + 4)...])
                    pending.removeAll()
                    return TestResponse(status: status, headers: headers, body: body)
                }
                let length = noBody ? 0 : Int(headers["content-length"] ?? "0") ?? 0
                while pending.count < end + 4 + length { if !fill() { return nil } }
                let body = Array(pending[(end + 4)..<(end + 4 + length)])
                pending.removeFirst(end + 4 + length)
                return TestResponse(status: status, headers: headers, body: body)
            }
            if !fill() { return nil }
        }
    }

    /// A chunked body from `start` (RFC 9112 §7.1, no trailers): the body and where it ends;
    /// nil when the connection ends first or a size line is malformed.
    private func readChunked(from start: Int) -> ([UInt8], Int)? {
        var body: [UInt8] = []
        var position = start
        while true {
            // The size line.
            var lineEnd = position
            while true {
                while lineEnd + 1 >= pending.count { if !fill() { return nil } }
                if pending[lineEnd] == 13 && pending[lineEnd + 1] == 10 { break }
                lineEnd += 1
            }
            guard let size = Int(String(decoding: pending[position..<lineEnd], as: UTF8.self)
                                   .split(separator: ";").first ?? "", radix: 16) else { return nil }
            position = lineEnd + 2
            while pending.count < position + size + 2 { if !fill() { return nil } }
            if size == 0 { return (body, position + 2) }
            body.append(contentsOf: pending[position..<(position + size)])
            position += size + 2
        }
    }

    private func headEnd() -> Int? {
        guard pending.count >= 4 else { return nil }
        for i in 0...(pending.count - 4) where pending[i] == 13 && pending[i + 1] == 10 && pending[i + 2] == 13 && pending[i + 3] == 10 {
            return i
        }
        return nil
    }

    /// True when the server closed the connection (EOF or reset) and sent nothing more.
    public func isClosedByServer() -> Bool {
        if !pending.isEmpty { return false }
        var byte: UInt8 = 0
        var n: Int
        repeat { n = recv(fd, &byte, 1, 0) } while n < 0 && errno == EINTR
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }

    /// Whether a response byte is already waiting, without blocking.
    public func hasDataWaiting() -> Bool {
        if !pending.isEmpty { return true }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0
    }

    /// Half-closes our sending side.
    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
}

/// A TCP socket connected to 127.0.0.1:`port`, with receive and send (so connect) timeouts;
/// (-1, errno) when the socket or the connect failed.
public func connectLoopback(port: Int, timeoutSeconds: Int, ipv6: Bool = false) -> (fd: Int32, errno: Int32) {
    let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return (-1, errno) }
    var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let rc: Int32
    if ipv6 {
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_port = UInt16(port).bigEndian
        addr.sin6_addr = in6addr_loopback
        rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    } else {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
    guard rc == 0 else {
        let e = errno
        close(fd)
        return (-1, e)
    }
    return (fd, 0)
}

/// One request and its response on a fresh connection.
public func fetch(_ port: Int, _ request: String, isHead: Bool = false) throws -> TestResponse {
    let c = try TestClient(port: port)
    try c.send(request)
    guard let r = c.readResponse(isHead: isHead) else { throw TestClientError("no response to \(request.debugDescription)") }
    return r
}
