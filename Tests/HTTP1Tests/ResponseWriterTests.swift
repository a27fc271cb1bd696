import Testing
@testable import HTTP1

@Suite("ResponseWriter")
struct ResponseWriterTests {
    static let dateText = "Sun, 06 Nov 1994 08:49:37 GMT"

    /// Runs `body` with a writer over a fresh output buffer and returns what was written.
    static func written(isHead: Bool = false, minorVersion: UInt8 = 1, keepAlive: Bool = true,
                        _ body: (inout ResponseWriter) -> Void) -> String {
        let out = UnsafeMutablePointer<RawBuffer>.allocate(capacity: 1)
        out.initialize(to: RawBuffer())
        defer {
            out.pointee.release()
            out.deinitialize(count: 1)
            out.deallocate()
        }
        let date = Array(dateText.utf8)
        date.withUnsafeBytes { d in
            var writer = ResponseWriter(out: out, date: d.baseAddress!, isHead: isHead,
                                        minorVersion: minorVersion, keepAlive: keepAlive)
            #expect(!writer.hasResponded)
            body(&writer)
            #expect(writer.hasResponded)
        }
        return String(decoding: out.pointee.bytes, as: UTF8.self)
    }

    static func head(_ statusLine: String, contentType: String = "text/plain", length: Int, connection: String? = nil,
                     extra: String = "") -> String {
        var s = "\(statusLine)\r\nServer: uring-cluster\r\nDate: \(dateText)\r\nContent-Type: \(contentType)\r\nContent-Length: \(length)\r\n"
        if let connection { s += "Connection: \(connection)\r\n" }
        return s + extra + "\r\n"
    }

    @Test func okWithBody() {
        let text = Self.written { $0.respond(.ok, body: "hello\n" as StaticString) }
        #expect(text == Self.head("HTTP/1.1 200 OK", length: 6) + "hello\n")
    }

    @Test func bytesBodyContentTypeAndExtraHeaders() {
        let payload: [UInt8] = [0x7B, 0x7D, 0x00, 0xFF]
        var expected = Array(Self.head("HTTP/1.1 201 Created", contentType: "application/json", length: 4,
                                       extra: "X-A: 1\r\nX-B: 2\r\n").utf8)
        expected += payload
        let out = UnsafeMutablePointer<RawBuffer>.allocate(capacity: 1)
        out.initialize(to: RawBuffer())
        defer { out.pointee.release(); out.deinitialize(count: 1); out.deallocate() }
        Array(Self.dateText.utf8).withUnsafeBytes { d in
            var w = ResponseWriter(out: out, date: d.baseAddress!, isHead: false, minorVersion: 1, keepAlive: true)
            payload.withUnsafeBytes {
                w.respond(HTTPStatus(code: 201, reason: "Created"), contentType: "application/json",
                          extraHeaders: "X-A: 1\r\nX-B: 2\r\n", body: $0)
            }
        }
        #expect(Array(out.pointee.bytes) == expected)
    }

    @Test func stringBody() {
        let text = Self.written { $0.respond(.notFound, contentType: "text/html", body: "<p>é</p>") }
        // Content-Length counts UTF-8 bytes, not characters.
        #expect(text == Self.head("HTTP/1.1 404 Not Found", contentType: "text/html", length: 9) + "<p>é</p>")
    }

    @Test func emptyBodyHasContentLengthZero() {
        let text = Self.written { $0.respond(.ok, body: "" as StaticString) }
        #expect(text == Self.head("HTTP/1.1 200 OK", length: 0))
    }

    /// RFC 9110 §8.6: no Content-Length in a 204; a 304's would have to describe the
    /// representation it stands for. Neither carries a body, whatever the handler gave.
    @Test(arguments: [HTTPStatus.noContent, .notModified])
    func noContentAndNotModifiedHaveNoContentFieldsAndNoBody(_ status: HTTPStatus) {
        let text = Self.written { $0.respond(status, body: "stray" as StaticString) }
        #expect(text == "HTTP/1.1 \(status.code) \(status.reason)\r\nServer: uring-cluster\r\nDate: \(Self.dateText)\r\n\r\n")
    }

    @Test func headOmitsTheBodyButKeepsContentLength() {
        let text = Self.written(isHead: true) { $0.respond(.ok, body: "hello world" as StaticString) }
        #expect(text == Self.head("HTTP/1.1 200 OK", length: 11))
        #expect(!text.contains("hello"))
    }

    @Test func keepAliveFalseAddsConnectionClose() {
        let v11 = Self.written(keepAlive: false) { $0.respond(.ok, body: "x" as StaticString) }
        #expect(v11 == Self.head("HTTP/1.1 200 OK", length: 1, connection: "close") + "x")
        let v10 = Self.written(minorVersion: 0, keepAlive: false) { $0.respond(.ok, body: "x" as StaticString) }
        #expect(v10 == Self.head("HTTP/1.1 200 OK", length: 1, connection: "close") + "x")
    }

    @Test func handlerCanTurnKeepAliveOffBeforeResponding() {
        let text = Self.written(keepAlive: true) { w in
            w.keepAlive = false
            w.respond(.ok, body: "x" as StaticString)
        }
        #expect(text.contains("\r\nConnection: close\r\n"))
    }

    @Test func http10KeepAliveAddsConnectionKeepAlive() {
        let v10 = Self.written(minorVersion: 0, keepAlive: true) { $0.respond(.ok, body: "x" as StaticString) }
        #expect(v10 == Self.head("HTTP/1.1 200 OK", length: 1, connection: "keep-alive") + "x")
        // HTTP/1.1 keep-alive is the default and needs no Connection field.
        let v11 = Self.written(minorVersion: 1, keepAlive: true) { $0.respond(.ok, body: "x" as StaticString) }
        #expect(!v11.contains("Connection:"))
    }

    @Test(arguments: [HTTPStatus.badRequest, .requestTimeout, .contentTooLarge, .uriTooLong, .headerFieldsTooLarge,
                      .notImplemented, .versionNotSupported])
    func writeErrorFormat(_ status: HTTPStatus) {
        var out = RawBuffer()
        defer { out.release() }
        out.append("previous" as StaticString)
        Array(Self.dateText.utf8).withUnsafeBytes { d in
            ResponseWriter.writeError(into: &out, status: status, date: d.baseAddress!)
        }
        let reason = String(describing: status.reason)
        let expected = "previous" + Self.head("HTTP/1.1 \(status.code) \(reason)", length: reason.utf8.count + 1,
                                              connection: "close") + reason + "\n"
        #expect(String(decoding: out.bytes, as: UTF8.self) == expected)
    }

    @Test func writeError431HasTheFullReason() {
        var out = RawBuffer()
        defer { out.release() }
        Array(Self.dateText.utf8).withUnsafeBytes { d in
            ResponseWriter.writeError(into: &out, status: .headerFieldsTooLarge, date: d.baseAddress!)
        }
        #expect(String(decoding: out.bytes, as: UTF8.self) ==
            "HTTP/1.1 431 Request Header Fields Too Large\r\nServer: uring-cluster\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            + "Content-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\nRequest Header Fields Too Large\n")
    }

    @Test func continueLineIsA100Response() {
        #expect(String(describing: ResponseWriter.continueLine) == "HTTP/1.1 100 Continue\r\n\r\n")
    }

    @Test func respondingTwiceTraps() async {
        await #expect(processExitsWith: .failure) {
            let out = UnsafeMutablePointer<RawBuffer>.allocate(capacity: 1)
            out.initialize(to: RawBuffer())
            let date = UnsafeMutableRawPointer.allocate(byteCount: 29, alignment: 1)
            date.initializeMemory(as: UInt8.self, repeating: 0x20, count: 29)
            var w = ResponseWriter(out: out, date: date, isHead: false, minorVersion: 1, keepAlive: true)
            w.respond(.ok, body: "a" as StaticString)
            w.respond(.ok, body: "b" as StaticString)
        }
    }
}
