import FoundationEssentials
import HTTP1

/// A response built as a value: status, Content-Type, header fields given at run time and
/// a body. What an async handler returns, and what a synchronous one may write
/// (`ResponseWriter.respond(_:)`). Building one allocates (the body and the fields are
/// arrays); a synchronous handler that must not allocate writes static pieces straight to
/// its ResponseWriter instead.
public struct Response: Sendable {
    public var status: HTTPStatus
    /// The Content-Type field's value.
    public private(set) var contentType: String
    public private(set) var headers = HeaderLines()
    public var body: [UInt8]
    /// A body written in parts by an async route (`Response.stream`), instead of `body`.
    public private(set) var stream: (@Sendable (BodyWriter) async throws -> Void)? = nil
    /// A stream's length when it is known beforehand (sent as Content-Length; else chunked).
    public private(set) var streamLength: Int? = nil

    /// A `contentType` holding CR, LF, NUL or another control byte is never sent as given:
    /// it becomes `application/octet-stream` (use `setContentType` to be told instead).
    public init(status: HTTPStatus = .ok, contentType: String = "text/plain; charset=utf-8", body: [UInt8] = []) {
        self.status = status
        self.contentType = (try? HeaderLines.check(value: contentType, of: "Content-Type")) != nil
            ? contentType : "application/octet-stream"
        self.body = body
    }

    /// A body produced in parts, written across loop turns as `produce` gives them, with
    /// back-pressure: `BodyWriter.write` waits while the client is more than the
    /// connection's bound behind. Chunked, unless `contentLength` is given (then the
    /// parts must add up to it exactly, or the connection is closed). An async route only.
    /// If `produce` throws after the head went out, the connection is closed: the only
    /// way left to tell the client that the body is incomplete.
    public static func stream(status: HTTPStatus = .ok, contentType: String = "application/octet-stream",
                              contentLength: Int? = nil,
                              _ produce: @escaping @Sendable (BodyWriter) async throws -> Void) -> Response {
        var r = Response(status: status, contentType: contentType)
        r.stream = produce
        r.streamLength = contentLength
        return r
    }

    /// A text body.
    public static func text(_ text: String, status: HTTPStatus = .ok) -> Response {
        Response(status: status, body: Array(text.utf8))
    }

    /// A JSON body, encoded with `encoder` (`Content-Type: application/json`).
    public static func json<T: Encodable>(_ value: T, status: HTTPStatus = .ok,
                                          encoder: JSONEncoder = JSONEncoder()) throws(HTTPError) -> Response {
        do {
            return Response(status: status, contentType: "application/json", body: Array(try encoder.encode(value)))
        } catch {
            throw HTTPError(.internalServerError, "the response could not be encoded as JSON")
        }
    }

    /// No body (204, 304, or any status whose meaning is enough).
    public static func empty(_ status: HTTPStatus = .noContent) -> Response {
        Response(status: status, contentType: "text/plain", body: [])
    }

    /// `status` with a Location field (201, 3xx).
    public static func redirect(to location: String, status: HTTPStatus = .found) throws(HeaderLines.Invalid) -> Response {
        try Response.empty(status).header("Location", location)
    }

    /// This response with one more header field. A Content-Type given here replaces the
    /// response's; the fields the server writes itself, and any name or value that could
    /// split the response (CR, LF, NUL), are refused.
    public func header(_ name: String, _ value: String) throws(HeaderLines.Invalid) -> Response {
        var copy = self
        try copy.addHeader(name, value)
        return copy
    }

    public mutating func addHeader(_ name: String, _ value: String) throws(HeaderLines.Invalid) {
        if HeaderLines.equalsIgnoringCase(name, "content-type") {
            try setContentType(value)
        } else {
            try headers.add(name, value)
        }
    }

    public mutating func setContentType(_ value: String) throws(HeaderLines.Invalid) {
        try HeaderLines.check(value: value, of: "Content-Type")
        contentType = value
    }
}

/// An error a handler throws to answer with a status: the router writes it as
/// `{"error": message}` with that status.
public struct HTTPError: Error, Sendable, Equatable {
    public var status: HTTPStatus
    public var message: String

    public init(_ status: HTTPStatus, _ message: String = "") {
        self.status = status
        self.message = message.isEmpty ? String(describing: status.reason) : message
    }

    /// The response for any error a handler threw: an HTTPError's own status, 400 for a
    /// header a handler could not set from the request's data, 500 for anything else
    /// (without its text, which may hold what a client must not see).
    static func response(for error: any Error) -> Response {
        let e: HTTPError
        switch error {
        case let http as HTTPError: e = http
        default: e = HTTPError(.internalServerError, "internal error")
        }
        return e.response
    }

    var response: Response {
        Response(status: status, contentType: "application/json", body: Array(JSONErrorText.object(message).utf8))
    }
}

enum JSONErrorText {
    /// `{"error": "…"}` with the message escaped as a JSON string.
    static func object(_ message: String) -> String {
        var out = "{\"error\":\""
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\"}\n"
    }

    /// A short description of a decoding failure, safe to show the client.
    static func describe(_ error: any Error) -> String {
        guard let e = error as? DecodingError else { return "malformed JSON" }
        switch e {
        case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case .dataCorrupted: return "malformed JSON"
        @unknown default: return "malformed JSON"
        }
    }
}

extension ResponseWriter {
    /// Writes a built response.
    public mutating func respond(_ response: Response) {
        var contentType = response.contentType
        contentType.withUTF8 { type in
            response.headers.bytes.withUnsafeBytes { lines in
                response.body.withUnsafeBytes { body in
                    respond(response.status, contentType: UnsafeRawBufferPointer(type), headerLines: lines, body: body)
                }
            }
        }
    }
}
