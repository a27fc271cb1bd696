import Glibc

/// A request as a handler sees it: views into the connection's input buffer, valid only
/// during the handler call. Nothing is copied unless the handler asks for a `String`.
public struct Request {
    public let head: RequestHead
    /// The bytes `head` and `fields` index into.
    public let bytes: UnsafeRawBufferPointer
    public let fields: UnsafeBufferPointer<HeaderField>
    public let bodyRange: ByteRange
    /// The connection's client, when the server knows it (ServerConfiguration.knowsClients).
    public var clientAddress: ClientAddress?

    public init(head: RequestHead, bytes: UnsafeRawBufferPointer, fields: UnsafeBufferPointer<HeaderField>, body: ByteRange) {
        self.head = head
        self.bytes = bytes
        self.fields = fields
        self.bodyRange = body
    }

    @inline(__always) public var method: HTTPMethod { head.method }

    @inline(__always) public func slice(_ r: ByteRange) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[r.lowerBound..<r.upperBound])
    }

    public var path: UnsafeRawBufferPointer { slice(head.path) }
    public var query: UnsafeRawBufferPointer { slice(head.query) }
    public var body: UnsafeRawBufferPointer { slice(bodyRange) }

    /// The path as a String (allocates; for convenience outside hot paths).
    public var pathString: String { String(decoding: path, as: UTF8.self) }
    public var methodString: String { String(decoding: slice(head.methodRange), as: UTF8.self) }

    /// Whether the path is exactly `literal`.
    @inline(__always)
    public func pathIs(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard Int(head.path.count) == n else { return false }
        return memcmp(bytes.baseAddress! + head.path.lowerBound, literal.utf8Start, n) == 0
    }

    /// The value of the first header field named `name` (give it in lowercase).
    public func header(_ name: StaticString) -> UnsafeRawBufferPointer? {
        for f in fields where HeadParser.equalsLowercase(bytes, f.name, name) {
            return slice(f.value)
        }
        return nil
    }

    /// A non-negative integer query parameter (`?ms=20`), or nil when absent or malformed.
    public func queryInteger(_ name: StaticString) -> Int? {
        let q = query
        let key = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        var i = 0
        while i < q.count {
            var end = i
            while end < q.count && q[end] != UInt8(ascii: "&") { end += 1 }
            let eq = i + key.count
            if eq < end && q[eq] == UInt8(ascii: "=") && memcmp(q.baseAddress! + i, key.baseAddress!, key.count) == 0 {
                var n = 0
                var digits = 0
                for k in (eq + 1)..<end {
                    let c = q[k]
                    guard c >= 48 && c <= 57, digits < 12 else { return nil }
                    n = n * 10 + Int(c - 48)
                    digits += 1
                }
                return digits > 0 ? n : nil
            }
            i = end + 1
        }
        return nil
    }
}

