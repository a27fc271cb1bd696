/// Request methods the server distinguishes; anything else is `.other` (its bytes stay
/// available through `RequestHead.methodRange`).
public enum HTTPMethod: UInt8, Sendable {
    case get, head, post, put, delete, options, patch, connect, trace, other
}

/// How the request body is delimited (RFC 9112 §6).
public enum BodyFraming: Equatable, Sendable {
    case none
    case contentLength(Int)
    case chunked
}

/// A byte range inside the request's bytes. Int32 offsets keep `RequestHead` small.
public struct ByteRange: Equatable, Sendable {
    public var start: Int32
    public var count: Int32
    @inline(__always) public init(start: Int, count: Int) {
        self.start = Int32(truncatingIfNeeded: start)
        self.count = Int32(truncatingIfNeeded: count)
    }
    @inline(__always) public var lowerBound: Int { Int(start) }
    @inline(__always) public var upperBound: Int { Int(start) + Int(count) }
    public static let empty = ByteRange(start: 0, count: 0)
}

/// One header field: ranges of its name and its value (without surrounding whitespace).
public struct HeaderField: Equatable, Sendable {
    public var name: ByteRange
    public var value: ByteRange
    public init(name: ByteRange, value: ByteRange) {
        self.name = name
        self.value = value
    }
}

/// What the parser learned from a request head. Offsets are into the bytes the parser
/// was given, so the head stays valid only while those bytes do; nothing is copied.
public struct RequestHead: Equatable, Sendable {
    public var method: HTTPMethod = .other
    public var methodRange: ByteRange = .empty
    public var target: ByteRange = .empty
    /// The path part of the target (before `?`).
    public var path: ByteRange = .empty
    /// The query after `?`, empty when absent.
    public var query: ByteRange = .empty
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (and higher 1.x minors, which RFC 9112 §2.6 says to treat as 1.1).
    public var minorVersion: UInt8 = 1
    public var framing: BodyFraming = .none
    /// Whether the connection may stay open after this request (version defaults and `Connection`).
    public var keepAlive: Bool = true
    public var expectContinue: Bool = false
    /// Index of the first header field in the caller's field table, and how many.
    public var fieldCount: Int = 0
    /// Where this head begins (after any empty lines that precede it) and ends (after the blank line).
    public var headStart: Int = 0
    public var headEnd: Int = 0

    public init() {}
}
