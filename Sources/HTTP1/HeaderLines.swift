/// Response header fields given at run time, kept as the bytes of whole lines
/// (`Name: value\r\n`), which the response writer copies as they are.
///
/// Each field is checked when it is added, so nothing a handler computes (a `Location`
/// built from user input, say) can split the response: a name must be a token
/// (RFC 9110 §5.1), and a value must not hold CR, LF or NUL (RFC 9110 §5.5, RFC 9112 §2.2).
/// The fields that frame the message or that the writer always sends are refused here:
/// the server owns `Content-Length`, `Transfer-Encoding`, `Connection`, `Date` and `Server`,
/// and `Content-Type` has its own place in a response.
public struct HeaderLines: Sendable, Equatable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public enum Invalid: Error, Equatable, Sendable {
        /// The name is empty or holds a byte that is not a token character.
        case name(String)
        /// The value holds CR, LF, NUL or another control byte (a tab is allowed).
        case value(name: String)
        /// The server writes this field itself.
        case reserved(String)
    }

    /// Adds a field; a name given twice is sent twice (as `Set-Cookie` must be).
    public mutating func add(_ name: String, _ value: String) throws(Invalid) {
        try Self.check(name: name, value: value)
        bytes.append(contentsOf: name.utf8)
        bytes.append(58)  // ':'
        bytes.append(32)
        // Surrounding whitespace is not part of a field value (RFC 9110 §5.5).
        let v = value.utf8
        var start = v.startIndex, end = v.endIndex
        while start < end, v[start] == 32 || v[start] == 9 { start = v.index(after: start) }
        while end > start, v[v.index(before: end)] == 32 || v[v.index(before: end)] == 9 { end = v.index(before: end) }
        bytes.append(contentsOf: v[start..<end])
        bytes.append(13)
        bytes.append(10)
    }

    public var isEmpty: Bool { bytes.isEmpty }

    static let reservedNames = ["content-length", "transfer-encoding", "connection", "date", "server", "content-type"]

    public static func check(name: String, value: String) throws(Invalid) {
        guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else { throw .name(name) }
        if reservedNames.contains(where: { equalsIgnoringCase(name, $0) }) { throw .reserved(name) }
        try check(value: value, of: name)
    }

    /// A field value (or a Content-Type) may hold visible bytes, spaces, tabs and bytes
    /// above 127 (obs-text), nothing else.
    public static func check(value: String, of name: String) throws(Invalid) {
        for b in value.utf8 where (b < 32 && b != 9) || b == 127 { throw .value(name: name) }
    }

    /// RFC 9110 §5.6.2's tchar.
    public static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    /// ASCII case-insensitive equality of a name with a lowercase one.
    public static func equalsIgnoringCase(_ name: String, _ lowercase: String) -> Bool {
        name.utf8.count == lowercase.utf8.count
            && zip(name.utf8, lowercase.utf8).allSatisfy { a, b in (a | (a >= 65 && a <= 90 ? 0x20 : 0)) == b }
    }
}
