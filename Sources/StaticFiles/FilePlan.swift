#if !FUZZING
import HTTP1
#endif

/// What a file request gets, from its conditional and range fields and the file's status:
/// pure, so that every combination is tested and fuzzed without files.
///
/// The order is RFC 9110 §13.2.2's: If-None-Match (weak comparison; `*` matches any file)
/// answers 304 for GET and HEAD; without it, If-Modified-Since does (an IMF-fixdate; other
/// date forms are ignored, which only costs a full answer). Then, for GET only, a single
/// byte range (RFC 9110 §14.1.2) gives 206, or 416 when it starts past the end, unless
/// If-Range names another version (a strong ETag compare, or a date that is not exactly
/// the file's Last-Modified), when the whole file is sent. A malformed Range, or one with
/// several ranges, is ignored and the whole file is sent (§14.2 allows either).
public enum FilePlan: Equatable, Sendable {
    case notModified
    case full
    case partial(start: Int, count: Int)
    case unsatisfiable

    public static func decide(isGet: Bool, ifNoneMatch: [UInt8]?, ifModifiedSince: [UInt8]?,
                              range: [UInt8]?, ifRange: [UInt8]?,
                              size: Int, etag: [UInt8], modifiedSeconds: Int64, nowSeconds: Int64 = .max) -> FilePlan {
        if let inm = ifNoneMatch {
            if matchesAny(inm, etag) { return .notModified }
        } else if let ims = ifModifiedSince, let since = date(ims), modifiedSeconds <= since {
            return .notModified
        }
        guard isGet, let range, let (first, last) = singleRange(range) else { return .full }
        if let ifRange, !ifRangeHolds(ifRange, etag: etag, modifiedSeconds: modifiedSeconds, nowSeconds: nowSeconds) { return .full }
        switch (first, last) {
        case (nil, let suffix?):
            // The last `suffix` bytes.
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            let count = min(suffix, size)
            return .partial(start: size - count, count: count)
        case (let start?, let end):
            guard start < size else { return .unsatisfiable }
            let stop = min(end ?? (size - 1), size - 1)
            return .partial(start: start, count: stop - start + 1)
        case (nil, nil):
            return .full
        }
    }

    /// The status and the bytes of the file a plan sends, or nil for one that sends none
    /// (304, 416).
    public func body(size: Int) -> (HTTPStatus, Range<Int>)? {
        switch self {
        case .full: return (.ok, 0..<size)
        case .partial(let start, let count): return (.partialContent, start..<start + count)
        case .notModified, .unsatisfiable: return nil
        }
    }

    /// The Content-Range header line a 206 or a 416 carries (RFC 9110 §14.4); empty for
    /// the others.
    public func contentRangeLine(size: Int) -> [UInt8] {
        switch self {
        case .partial(let start, let count): return Array("Content-Range: bytes \(start)-\(start + count - 1)/\(size)\r\n".utf8)
        case .unsatisfiable: return Array("Content-Range: bytes */\(size)\r\n".utf8)
        case .full, .notModified: return []
        }
    }

    /// `bytes=first-last`, `bytes=first-`, or `bytes=-suffix`; nil for anything else
    /// (another unit, several ranges, bad syntax, last before first).
    static func singleRange(_ value: [UInt8]) -> (Int?, Int?)? {
        let v = trimmed(value)
        let unit = Array("bytes=".utf8)
        guard v.count > unit.count, zip(v.prefix(unit.count), unit).allSatisfy({ lower($0) == $1 }) else { return nil }
        let spec = v.dropFirst(unit.count)
        guard !spec.contains(UInt8(ascii: ",")), let dash = spec.firstIndex(of: UInt8(ascii: "-")) else { return nil }
        let a = number(spec[spec.startIndex..<dash])
        let b = number(spec[(dash + 1)...])
        let aEmpty = dash == spec.startIndex, bEmpty = dash + 1 == spec.endIndex
        if aEmpty {
            guard let b, !bEmpty else { return nil }
            return (nil, b)
        }
        guard let a else { return nil }
        if bEmpty { return (a, nil) }
        guard let b, b >= a else { return nil }
        return (a, b)
    }

    /// A decimal of at most 18 digits (larger cannot be a position in a file here).
    static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var n = 0
        for d in digits {
            guard d >= UInt8(ascii: "0") && d <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int(d - UInt8(ascii: "0"))
        }
        return n
    }

    /// If-None-Match: `*`, or a list of entity tags, compared weakly (W/ ignored).
    static func matchesAny(_ value: [UInt8], _ etag: [UInt8]) -> Bool {
        let v = trimmed(value)
        if v == [UInt8(ascii: "*")] { return true }
        var i = 0
        while i < v.count {
            while i < v.count && (v[i] == 32 || v[i] == 9 || v[i] == UInt8(ascii: ",")) { i += 1 }
            if i + 1 < v.count && v[i] == UInt8(ascii: "W") && v[i + 1] == UInt8(ascii: "/") { i += 2 }
            guard i < v.count, v[i] == UInt8(ascii: "\"") else { return false }
            guard let close = v[(i + 1)...].firstIndex(of: UInt8(ascii: "\"")) else { return false }
            if v[i...close].elementsEqual(etag) { return true }
            i = close + 1
        }
        return false
    }

    /// If-Range: a strong ETag equal to ours, or an IMF-fixdate equal to Last-Modified when
    /// that date is strong: at least a second old (RFC 9110 §13.1.5; a file changed twice
    /// within its second would otherwise splice two versions into one body).
    static func ifRangeHolds(_ value: [UInt8], etag: [UInt8], modifiedSeconds: Int64, nowSeconds: Int64) -> Bool {
        let v = trimmed(value)
        if v.first == UInt8(ascii: "\"") { return v == etag }
        if v.first == UInt8(ascii: "W") { return false }  // a weak tag never satisfies If-Range
        guard let date = date(v) else { return false }
        return date == modifiedSeconds && nowSeconds > modifiedSeconds
    }

    static func date(_ value: [UInt8]) -> Int64? {
        trimmed(value).withUnsafeBytes { HTTPDate.parse($0) }
    }

    static func trimmed(_ value: [UInt8]) -> [UInt8] {
        var v = value
        while let f = v.first, f == 32 || f == 9 { v.removeFirst() }
        while let l = v.last, l == 32 || l == 9 { v.removeLast() }
        return v
    }

    static func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b | 0x20 : b }
}

