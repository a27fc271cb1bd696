import Testing
@testable import HTTP1

// Helpers shared by the HTTP1 test files: turning text into request bytes, running the
// head parser over them, and reading ranges back as strings.

/// The bytes of `text` (UTF-8). Tests write CRLF explicitly.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A head with the given request line, with optional extra header lines
/// (each without its CRLF).
func requestHead(_ requestLine: String = "GET / HTTP/1.1", host: Bool = true, _ lines: [String] = []) -> String {
    var s = requestLine + "\r\n"
    if host { s += "Host: example.com\r\n" }
    for line in lines { s += line + "\r\n" }
    return s + "\r\n"
}

/// `GET / HTTP/1.1` with Host and the given extra header lines.
func requestHead(_ lines: [String]) -> String {
    requestHead("GET / HTTP/1.1", lines)
}

/// The outcome of running `findEnd` and `parse` over a byte array.
struct ParsedHead {
    var result: HeadParseResult
    var bytes: [UInt8]
    var fields: [HeaderField]

    var head: RequestHead? {
        if case .complete(let h) = result { return h }
        return nil
    }

    /// The status code of a rejected head, nil when it parsed.
    var status: Int? {
        if case .invalid(let s) = result { return s.code }
        return nil
    }

    func string(_ r: ByteRange) -> String {
        String(decoding: bytes[r.lowerBound..<r.upperBound], as: UTF8.self)
    }

    /// (name, value) of each parsed field, as strings.
    var fieldStrings: [(String, String)] {
        guard let h = head else { return [] }
        return fields[0..<h.fieldCount].map { (string($0.name), string($0.value)) }
    }
}

/// Finds the end of the head that starts at `start` (it must be complete) and parses it.
func parseHead(_ input: [UInt8], start: Int = 0, limits: HTTPLimits = HTTPLimits(), fieldCapacity: Int = 128,
               sourceLocation: SourceLocation = #_sourceLocation) -> ParsedHead {
    var table = [HeaderField](repeating: HeaderField(name: .empty, value: .empty), count: fieldCapacity)
    let result: HeadParseResult = input.withUnsafeBytes { raw in
        var end = raw.count
        switch HeadParser.findEnd(raw, start: start, from: start) {
        case .found(let e):
            end = e
        case let other:
            Issue.record("findEnd did not find a complete head: \(other)", sourceLocation: sourceLocation)
        }
        return table.withUnsafeMutableBufferPointer { fields in
            HeadParser.parse(raw, start: start, end: end, limits: limits, fields: fields)
        }
    }
    return ParsedHead(result: result, bytes: input, fields: table)
}

func parseHead(_ text: String, limits: HTTPLimits = HTTPLimits(), fieldCapacity: Int = 128,
               sourceLocation: SourceLocation = #_sourceLocation) -> ParsedHead {
    parseHead(bytes(text), limits: limits, fieldCapacity: fieldCapacity, sourceLocation: sourceLocation)
}

/// A deterministic pseudo-random generator (SplitMix64), so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension RawBuffer {
    /// Appends the bytes of an array (as a read into the buffer would).
    mutating func append(bytes array: [UInt8]) {
        array.withUnsafeBytes { append($0) }
    }
}
