import HTTP1

/// Percent-decoding (RFC 3986 §2.1) of raw request bytes, done only when a handler asks
/// for a decoded value: the path, a segment, a route parameter, a query parameter.
enum PercentDecoding {
    /// The decoded text, or nil when a `%` is not followed by two hex digits or the result
    /// is not UTF-8 (a request a handler cannot act on; the router answers it 400).
    /// `plusIsSpace`: a query's `+` means a space (HTML form encoding).
    static func decode(_ bytes: UnsafeRawBufferPointer, plusIsSpace: Bool = false) -> String? {
        var needsWork = false
        for b in bytes where b == UInt8(ascii: "%") || (plusIsSpace && b == UInt8(ascii: "+")) {
            needsWork = true
            break
        }
        if !needsWork { return String(validating: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let hi = HexDigit.value(bytes[i + 1]), let lo = HexDigit.value(bytes[i + 2]) else {
                    return nil
                }
                out.append(UInt8(hi << 4 | lo))
                i += 3
            } else {
                out.append(plusIsSpace && b == UInt8(ascii: "+") ? 32 : b)
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

}
