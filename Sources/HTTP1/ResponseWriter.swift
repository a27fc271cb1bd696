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
        precondition(!hasResponded, "a request gets one response")
        hasResponded = true
        Self.writeHead(into: &out.pointee, status: status, date: date, contentType: contentType,
                       extraHeaders: extraHeaders, contentLength: body.count,
                       keepAlive: keepAlive, minorVersion: minorVersion)
        if !isHead { out.pointee.append(body) }
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
    @inline(__always)
    public static func writeHead(into out: inout RawBuffer, status: HTTPStatus, date: UnsafeRawPointer,
                                 contentType: StaticString, extraHeaders: StaticString, contentLength: Int,
                                 keepAlive: Bool, minorVersion: UInt8) {
        out.append("HTTP/1.1 ")
        out.appendDecimal(status.code)
        out.append(byte: 32)
        out.append(status.reason)
        out.append("\r\nServer: uring-cluster\r\nDate: ")
        out.append(UnsafeRawBufferPointer(start: date, count: HTTPDate.length))
        out.append("\r\nContent-Type: ")
        out.append(contentType)
        out.append("\r\nContent-Length: ")
        out.appendDecimal(contentLength)
        if !keepAlive {
            out.append("\r\nConnection: close")
        } else if minorVersion == 0 {
            out.append("\r\nConnection: keep-alive")
        }
        out.append("\r\n")
        out.append(extraHeaders)
        out.append("\r\n")
    }

    /// An error response with `Connection: close` and the reason as its body.
    public static func writeError(into out: inout RawBuffer, status: HTTPStatus, date: UnsafeRawPointer) {
        writeHead(into: &out, status: status, date: date, contentType: "text/plain", extraHeaders: "",
                  contentLength: status.reason.utf8CodeUnitCount + 1, keepAlive: false, minorVersion: 1)
        out.append(status.reason)
        out.append(byte: 10)
    }

    public static let continueLine: StaticString = "HTTP/1.1 100 Continue\r\n\r\n"
}
