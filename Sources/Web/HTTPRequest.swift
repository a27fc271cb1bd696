import FoundationEssentials
import HTTP1

/// A request as a route handler sees it. Nothing is copied or decoded until asked: the
/// accessors that return `String`s decode from the raw bytes on each call.
///
/// For a synchronous handler it is a view of the connection's input, valid during the
/// call only. An async handler gets an owned copy (`owned()`, one allocation for the head,
/// the fields and the body), which it may keep across `await`s and beyond.
public struct HTTPRequest: @unchecked Sendable {
    // @unchecked: the pointers are either the loop's, used on the loop's thread during
    // the call, or into `storage`, which is never written after the copy.
    /// The server's view this wraps (into the connection's input, or into `storage`).
    public let raw: Request
    /// The route's parameters (ranges into `bytes`) and their names.
    public internal(set) var parameters: RouteParameters
    /// Keeps an owned copy's bytes alive; nil for a view.
    let storage: RequestStorage?

    init(_ request: Request, parameters: RouteParameters, storage: RequestStorage? = nil) {
        raw = request
        self.parameters = parameters
        self.storage = storage
    }

    public var head: RequestHead { raw.head }
    var bytes: UnsafeRawBufferPointer { raw.bytes }
    var fields: UnsafeBufferPointer<HeaderField> { raw.fields }
    var bodyRange: ByteRange { raw.bodyRange }

    /// A copy that owns its bytes, for a handler that outlives the call.
    public func owned() -> HTTPRequest {
        if storage != nil { return self }
        let used = max(head.headEnd, bodyRange.upperBound)
        let storage = RequestStorage.make(bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<used]), fields: fields,
                                          names: parameters.names)
        var copy = Request(head: head, bytes: storage.bytes, fields: storage.fields, body: bodyRange)
        copy.clientAddress = raw.clientAddress
        return HTTPRequest(copy, parameters: parameters, storage: storage)
    }

    @inline(__always) func slice(_ r: ByteRange) -> UnsafeRawBufferPointer { raw.slice(r) }

    // MARK: - Method and path

    /// The client's address (`clientAddress.host`, `.port`; its description is
    /// `127.0.0.1:5000` or `[::1]:5000`), or nil when the server does not know it
    /// (ServerConfiguration.knowsClients off, or a Unix socket).
    public var clientAddress: ClientAddress? { raw.clientAddress }

    public var method: HTTPMethod { head.method }
    /// The method's name as sent (`GET`, or an extension method).
    public var methodName: String { String(decoding: slice(head.methodRange), as: UTF8.self) }

    /// The path as sent, still percent-encoded (`/a%20b`).
    public var rawPath: String { String(decoding: slice(head.path), as: UTF8.self) }
    /// The path's raw bytes (a view; no copy).
    public var pathBytes: UnsafeRawBufferPointer { slice(head.path) }
    /// The path percent-decoded, or nil when its encoding is malformed or not UTF-8.
    public var path: String? { PercentDecoding.decode(slice(head.path)) }
    /// The path's segments, each percent-decoded (empty segments left out), or nil when
    /// one is malformed. A decoded `/` (`%2F`) stays inside its segment.
    public var pathSegments: [String]? {
        let raw = slice(head.path)
        var result: [String] = []
        for range in Delimited(raw, by: UInt8(ascii: "/")) {
            guard let segment = PercentDecoding.decode(raw.slice(range)) else { return nil }
            result.append(segment)
        }
        return result
    }

    /// A route parameter (`{id}` in the route's path), percent-decoded; nil when the route
    /// has none of that name or its encoding is malformed.
    public func parameter(_ name: String) -> String? {
        parameters.range(named: name).flatMap { PercentDecoding.decode(slice($0)) }
    }

    /// A route parameter as an integer; nil when absent or not an integer.
    public func parameter(_ name: String, as: Int.Type) -> Int? {
        parameter(name).flatMap { Int($0) }
    }

    // MARK: - Query

    /// The query after `?`, as sent.
    public var rawQuery: String { String(decoding: slice(head.query), as: UTF8.self) }

    /// The first value of query parameter `name` (`?name=value`), decoded (`+` is a
    /// space); "" for a bare `?name`; nil when absent or malformed.
    public func query(_ name: String) -> String? {
        let q = slice(head.query)
        for pair in Delimited(q, by: UInt8(ascii: "&")) {
            let (key, value) = Self.split(q.slice(pair))
            if PercentDecoding.decode(key, plusIsSpace: true) == name {
                return PercentDecoding.decode(value, plusIsSpace: true)
            }
        }
        return nil
    }

    /// Query parameter `name` as an integer; nil when absent or not an integer.
    public func query(_ name: String, as: Int.Type) -> Int? {
        query(name).flatMap { Int($0) }
    }

    /// Every value of a repeated query parameter (`?tag=a&tag=b`), in order.
    public func queryAll(_ name: String) -> [String] {
        queryItems.filter { $0.name == name }.map(\.value)
    }

    /// Every query parameter, decoded, in order (a malformed one is left out).
    public var queryItems: [(name: String, value: String)] {
        let q = slice(head.query)
        var result: [(name: String, value: String)] = []
        for pair in Delimited(q, by: UInt8(ascii: "&")) {
            let (key, value) = Self.split(q.slice(pair))
            if let k = PercentDecoding.decode(key, plusIsSpace: true), let v = PercentDecoding.decode(value, plusIsSpace: true) {
                result.append((k, v))
            }
        }
        return result
    }

    /// `key=value` at its first `=`.
    static func split(_ pair: UnsafeRawBufferPointer) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
        guard let eq = pair.firstIndex(of: UInt8(ascii: "=")) else { return (pair, pair.slice(pair.count..<pair.count)) }
        return (pair.slice(0..<eq), pair.slice((eq + 1)..<pair.count))
    }

    // MARK: - Header fields

    /// The value of the first field named `name`, matched in any case; nil when absent.
    public func header(_ name: String) -> String? {
        headerBytes(name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// As `header(_:)`, a view of the value's bytes (no copy).
    public func headerBytes(_ name: String) -> UnsafeRawBufferPointer? {
        for f in fields where slice(f.name).equalsIgnoringCase(name) { return slice(f.value) }
        return nil
    }

    /// Every value of a field that may repeat, in order.
    public func headers(named name: String) -> [String] {
        fields.filter { slice($0.name).equalsIgnoringCase(name) }.map { String(decoding: slice($0.value), as: UTF8.self) }
    }

    /// Every header field in order, as sent.
    public var headers: [(name: String, value: String)] {
        fields.map { (String(decoding: slice($0.name), as: UTF8.self), String(decoding: slice($0.value), as: UTF8.self)) }
    }

    /// The value of cookie `name` from the `Cookie` fields (RFC 6265 §5.4), without
    /// surrounding double quotes; nil when absent.
    public func cookie(_ name: String) -> String? {
        for f in fields where slice(f.name).equalsIgnoringCase("cookie") {
            let list = slice(f.value)
            for piece in Delimited(list, by: UInt8(ascii: ";")) {
                let (key, value) = Self.split(list.slice(piece))
                guard key.trimmingSpaces().equals(name) else { continue }
                var v = value.trimmingSpaces()
                if v.count >= 2 && v.first == UInt8(ascii: "\"") && v.last == UInt8(ascii: "\"") {
                    v = v.slice(1..<(v.count - 1))
                }
                return String(decoding: v, as: UTF8.self)
            }
        }
        return nil
    }

    // MARK: - Body

    /// The body's bytes (a view; for a synchronous handler valid during the call only).
    public var body: UnsafeRawBufferPointer { slice(bodyRange) }
    public var bodyBytes: [UInt8] { Array(slice(bodyRange)) }
    public var bodyText: String { String(decoding: slice(bodyRange), as: UTF8.self) }

    /// The body decoded as JSON. A body that is not valid JSON for `T` throws an
    /// `HTTPError` with status 400, which the router answers as JSON.
    public func decode<T: Decodable>(_ type: T.Type, using decoder: JSONDecoder = JSONDecoder()) throws(HTTPError) -> T {
        do {
            return try decoder.decode(T.self, from: Data(slice(bodyRange)))
        } catch {
            throw HTTPError(.badRequest, "the body is not valid JSON for this request: \(JSONErrorText.describe(error))")
        }
    }
}

/// What an owned request's storage holds besides its bytes.
struct RequestStorageHeader {
    var fieldCount: Int
    var byteCount: Int
    /// The route's parameter names, kept alive with the copy (a view points at them
    /// unowned; a copy may outlive the application that made it).
    var names: RouteNames?
}

/// One allocation holding an owned request's header fields and bytes.
final class RequestStorage: ManagedBuffer<RequestStorageHeader, UInt64> {
    var fields: UnsafeBufferPointer<HeaderField> {
        withUnsafeMutablePointerToElements { UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: HeaderField.self), count: header.fieldCount) }
    }

    var bytes: UnsafeRawBufferPointer {
        withUnsafeMutablePointerToElements { p in
            UnsafeRawBufferPointer(start: UnsafeRawPointer(p) + header.fieldCount * MemoryLayout<HeaderField>.stride, count: header.byteCount)
        }
    }

    static func make(bytes: UnsafeRawBufferPointer, fields: UnsafeBufferPointer<HeaderField>, names: RouteNames?) -> RequestStorage {
        let fieldBytes = fields.count * MemoryLayout<HeaderField>.stride
        let words = (fieldBytes + bytes.count + 7) / 8
        let storage = RequestStorage.create(minimumCapacity: max(1, words)) { _ in
            RequestStorageHeader(fieldCount: fields.count, byteCount: bytes.count, names: names)
        }
        storage.withUnsafeMutablePointerToElements { p in
            let raw = UnsafeMutableRawPointer(p)
            if let base = fields.baseAddress, fieldBytes > 0 { raw.copyMemory(from: base, byteCount: fieldBytes) }
            if let base = bytes.baseAddress, bytes.count > 0 { (raw + fieldBytes).copyMemory(from: base, byteCount: bytes.count) }
        }
        return unsafeDowncast(storage, to: RequestStorage.self)
    }
}
