import HTTP1

/// Cross-origin resource sharing (the Fetch standard's CORS protocol): a preflight
/// (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed origin is
/// answered 204 with what may be sent; every other request from an allowed origin gets
/// `Access-Control-Allow-Origin` on its answer. A request from an origin not allowed is
/// left as it is (the browser then refuses it). Every field is built when the middleware
/// is made, so a request costs a comparison of its Origin and no allocation.
public struct CORS: Middleware {
    public enum Origins: Sendable {
        /// Any origin (`*`; no credentials, as the standard requires).
        case any
        /// These origins exactly (`https://example.com`), each answered with itself.
        case only([String])
    }

    let lines: CORSLines

    /// `methods` and `headers` are what a preflight allows; `maxAge` how long a browser
    /// may cache its answer; `credentials` sends `Access-Control-Allow-Credentials: true`
    /// (only with `.only` origins).
    public init(origins: Origins = .any, methods: [HTTPMethod] = [.get, .head, .post, .put, .patch, .delete],
                headers: [String] = ["Content-Type", "Authorization"], maxAgeSeconds: Int = 600, credentials: Bool = false) {
        lines = CORSLines(origins: origins, methods: methods, headers: headers, maxAge: maxAgeSeconds,
                          credentials: credentials)
    }

    public func receive(_ request: HTTPRequest, _ response: inout ResponseWriter) -> Bool {
        guard let origin = request.headerBytes("origin"), let index = lines.match(origin) else { return false }
        if request.method == .options && request.headerBytes("access-control-request-method") != nil {
            response.respond(.noContent, contentType: ResponseText.plain, headerLines: lines.preflight[index],
                             body: UnsafeRawBufferPointer(start: nil, count: 0))
            return true
        }
        response.addedHeaderLines = lines.simple[index]
        return false
    }
}

/// The CORS fields, built once, in memory that stays put for the middleware's life.
final class CORSLines: @unchecked Sendable {
    let origins: [[UInt8]]?  // nil: any
    let simple: [UnsafeRawBufferPointer]
    let preflight: [UnsafeRawBufferPointer]
    private let storage: [UnsafeMutableRawBufferPointer]

    init(origins: CORS.Origins, methods: [HTTPMethod], headers: [String], maxAge: Int, credentials: Bool) {
        let names: [String]
        switch origins {
        case .any:
            self.origins = nil
            names = ["*"]
        case .only(let list):
            precondition(list.allSatisfy { (try? HeaderLines.check(value: $0, of: "Origin")) != nil }, "an origin holds CR, LF or NUL")
            self.origins = list.map { Array($0.utf8) }
            names = list
        }
        precondition(headers.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy(HeaderLines.isTokenByte) }, "a header name is not a token")
        let allowMethods = methods.map(RouteTable.name).joined(separator: ", ")
        var storage: [UnsafeMutableRawBufferPointer] = []
        func keep(_ text: String) -> UnsafeRawBufferPointer {
            let bytes = Array(text.utf8)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
            buffer.copyBytes(from: bytes)
            storage.append(buffer)
            return UnsafeRawBufferPointer(rebasing: buffer[0..<bytes.count])
        }
        var simple: [UnsafeRawBufferPointer] = []
        var preflight: [UnsafeRawBufferPointer] = []
        for name in names {
            var common = "Access-Control-Allow-Origin: \(name)\r\n"
            if name != "*" {
                common += "Vary: Origin\r\n"
                if credentials { common += "Access-Control-Allow-Credentials: true\r\n" }
            }
            simple.append(keep(common))
            preflight.append(keep(common + "Access-Control-Allow-Methods: \(allowMethods)\r\n"
                + "Access-Control-Allow-Headers: \(headers.joined(separator: ", "))\r\n"
                + "Access-Control-Max-Age: \(maxAge)\r\n"))
        }
        self.simple = simple
        self.preflight = preflight
        self.storage = storage
    }

    deinit { for b in storage { b.deallocate() } }

    /// Which origin's fields answer `origin`; nil when it is not allowed.
    func match(_ origin: UnsafeRawBufferPointer) -> Int? {
        guard let origins else { return 0 }
        for (i, o) in origins.enumerated() where o.count == origin.count && o.elementsEqual(origin) { return i }
        return nil
    }
}
