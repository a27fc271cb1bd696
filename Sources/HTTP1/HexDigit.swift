/// A hexadecimal digit's value (RFC 9110's HEXDIG, either case): for chunk sizes
/// (RFC 9112 §7.1) and percent-encoding (RFC 3986 §2.1) alike.
public enum HexDigit {
    @inline(__always)
    public static func value(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: return Int(c - 48)
        case 65...70: return Int(c - 55)
        case 97...102: return Int(c - 87)
        default: return nil
        }
    }

    /// The upper-case digit of a value 0...15 (an escaped byte in a log line).
    @inline(__always)
    public static func upper(_ v: UInt8) -> UInt8 { v < 10 ? 48 + v : 55 + v }
}
