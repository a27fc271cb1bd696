/// Writes one response into the connection's output buffer: status line, the headers every
/// response carries (Server, Date, Content-Type, Content-Length, Connection when needed),
/// then the body (left out for HEAD, as RFC 9110 §9.3.2 requires, while Content-Length stays).
public struct ResponseWriter {
    @usableFromInline let out: UnsafeMutablePointer<RawBuffer>
    @usableFromInline let date: UnsafeRawPointer
    public let isHead: Bool
    /// HTTP/1.0 clients get an explicit `Connection: keep-alive` when the connection stays.
    public let minorVersion: UInt8
    /// Whether the connection stays open; a handler may set it to false.
    public var keepAlive: Bool
    public private(set) var hasResponded = false
    /// Header lines added to whatever response is written (whole lines ending in CRLF,
    /// checked, and alive until the response is written): how a middleware adds a field
    /// (CORS's) to every response without building one. Empty by default.
    public var addedHeaderLines = UnsafeRawBufferPointer(start: nil, count: 0)
    /// The status written, and the body's length (0 before `respond`): what a request log
    /// reports.
    public private(set) var statusCode = 0
    public private(set) var bodyCount = 0

    public init(out: UnsafeMutablePointer<RawBuffer>, date: UnsafeRawPointer, isHead: Bool,
                minorVersion: UInt8, keepAlive: Bool) {
        self.out = out
        self.date = date
        self.isHead = isHead
        self.minorVersion = minorVersion
        self.keepAlive = keepAlive
    }

    /// Writes a complete response. `extraHeaders` are whole lines, each ending in CRLF.
    @inline(__always)
    public mutating func respond(_ status: HTTPStatus, contentType: StaticString = "text/plain",
                                 extraHeaders: StaticString = "", body: UnsafeRawBufferPointer) {
        respond(status, contentType: Self.bytes(contentType), headerLines: Self.bytes(extraHeaders), body: body)
    }

    /// Writes a complete response with run-time pieces: `contentType` is the field's value,
    /// `headerLines` are whole lines, each ending in CRLF, already checked (a `HeaderLines`'
    /// bytes). Neither is copied anywhere but into the output.
    @inline(__always)
    public mutating func respond(_ status: HTTPStatus, contentType: UnsafeRawBufferPointer,
                                 headerLines: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) {
        precondition(!hasResponded, "a request gets one response")
        hasResponded = true
        statusCode = status.code
        bodyCount = body.count
        Self.writeHead(into: &out.pointee, status: status, date: date, contentType: contentType,
                       extraHeaders: headerLines, addedHeaders: addedHeaderLines, framing: .contentLength(body.count),
                       keepAlive: keepAlive, minorVersion: minorVersion)
        if !isHead && status.code != 204 && status.code != 304 { out.pointee.append(body) }
    }

    /// A literal's bytes, as the run-time `respond` takes them.
    @inline(__always)
    public static func bytes(_ s: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
    }

    @inline(__always)
    public mutating func respond(_ status: HTTPStatus, contentType: StaticString = "text/plain",
                                 extraHeaders: StaticString = "", body: StaticString) {
        respond(status, contentType: contentType, extraHeaders: extraHeaders,
                body: UnsafeRawBufferPointer(start: body.utf8Start, count: body.utf8CodeUnitCount))
    }

    /// For handlers that build text at run time. Labelled `text:` so that a literal
    /// (`body: "hello"`) picks the StaticString overload above instead of allocating a String.
    public mutating func respond(_ status: HTTPStatus, contentType: StaticString = "text/plain", text: String) {
        var s = text
        s.withUTF8 { respond(status, contentType: contentType, body: UnsafeRawBufferPointer($0)) }
    }

    /// The head of a response, shared by handlers and the loop's own error answers.
    ///
    /// Room for the whole head is reserved once and the pieces are stored through a cursor:
    /// thirteen appends, each with its own capacity check and a call to memmove, were 6% of
    /// the CPU of pipelined requests. A literal piece's copy has a constant length, which the
    /// compiler turns into a few moves.
    @inline(__always)
    public static func writeHead(into out: inout RawBuffer, status: HTTPStatus, date: UnsafeRawPointer,
                                 contentType: UnsafeRawBufferPointer, extraHeaders: UnsafeRawBufferPointer,
                                 addedHeaders: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                                 framing: BodyFraming, keepAlive: Bool, minorVersion: UInt8) {
        // The literal pieces and 20 digits come to 126 bytes.
        let most = 160 + status.reason.utf8CodeUnitCount + HTTPDate.length + contentType.count + extraHeaders.count
            + addedHeaders.count
        let start = out.tail(reserving: most)
        var p = start
        p = put(p, "HTTP/1.1 ")
        // 100...599: three digits.
        p.storeBytes(of: 48 &+ UInt8(truncatingIfNeeded: status.code / 100), as: UInt8.self)
        p.storeBytes(of: 48 &+ UInt8(truncatingIfNeeded: status.code / 10 % 10), toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: 48 &+ UInt8(truncatingIfNeeded: status.code % 10), toByteOffset: 2, as: UInt8.self)
        p.storeBytes(of: 32, toByteOffset: 3, as: UInt8.self)
        p += 4
        p = put(p, status.reason)
        p = put(p, "\r\nServer: uring-cluster\r\nDate: ")
        p.copyMemory(from: date, byteCount: HTTPDate.length)
        p += HTTPDate.length
        // 204 and 304 have no content to describe: RFC 9110 §8.6 forbids a Content-Length
        // in a 204, and one in a 304 would have to be the selected representation's.
        if status.code != 204 && status.code != 304 {
            p = put(p, "\r\nContent-Type: ")
            p = put(p, contentType)
            switch framing {
            case .contentLength(let n):
                p = put(p, "\r\nContent-Length: ")
                p += RawBuffer.writeDecimal(n, at: p)
            case .chunked:
                p = put(p, "\r\nTransfer-Encoding: chunked")
            case .none:
                // Delimited by the close (an HTTP/1.0 client's stream): no length field.
                break
            }
        }
        if !keepAlive {
            p = put(p, "\r\nConnection: close")
        } else if minorVersion == 0 {
            p = put(p, "\r\nConnection: keep-alive")
        }
        p = put(p, "\r\n")
        p = put(p, extraHeaders)
        p = put(p, addedHeaders)
        p = put(p, "\r\n")
        out.count += p - start
    }

    @inline(__always)
    static func put(_ p: UnsafeMutableRawPointer, _ bytes: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return p }
        p.copyMemory(from: base, byteCount: bytes.count)
        return p + bytes.count
    }

    @inline(__always)
    static func put(_ p: UnsafeMutableRawPointer, _ s: StaticString) -> UnsafeMutableRawPointer {
        p.copyMemory(from: s.utf8Start, byteCount: s.utf8CodeUnitCount)
        return p + s.utf8CodeUnitCount
    }

    /// An error response with `Connection: close` and the reason as its body.
    public static func writeError(into out: inout RawBuffer, status: HTTPStatus, date: UnsafeRawPointer) {
        writeHead(into: &out, status: status, date: date, contentType: bytes("text/plain"), extraHeaders: bytes(""),
                  framing: .contentLength(status.reason.utf8CodeUnitCount + 1), keepAlive: false, minorVersion: 1)
        out.append(status.reason)
        out.append(byte: 10)
    }

    public static let continueLine: StaticString = "HTTP/1.1 100 Continue\r\n\r\n"
}
