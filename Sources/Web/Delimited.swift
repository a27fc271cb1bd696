import Glibc

/// The pieces of raw bytes between one separator byte (a path's `/`, a query's `&`, a
/// Cookie's `;`), in order, as views of the original: nothing is copied or allocated.
struct Delimited: Sequence, IteratorProtocol {
    let bytes: UnsafeRawBufferPointer
    let separator: UInt8
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer, by separator: UInt8) {
        self.bytes = bytes
        self.separator = separator
    }

    /// Each non-empty piece (`//` in a path, `&&` in a query hold none) as the range of
    /// its bytes within `bytes`.
    mutating func next() -> Range<Int>? {
        while position < bytes.count {
            let start = position
            var end = start
            while end < bytes.count && bytes[end] != separator { end += 1 }
            position = end + 1
            if end > start { return start..<end }
        }
        return nil
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func slice(_ r: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: self[r]) }

    /// Leading and trailing spaces and tabs removed.
    func trimmingSpaces() -> UnsafeRawBufferPointer {
        var start = 0, end = count
        while start < end, self[start] == 32 || self[start] == 9 { start += 1 }
        while end > start, self[end - 1] == 32 || self[end - 1] == 9 { end -= 1 }
        return slice(start..<end)
    }

    func equals(_ s: String) -> Bool {
        var s = s
        return s.withUTF8 { u in u.count == count && (count == 0 || memcmp(u.baseAddress!, baseAddress!, count) == 0) }
    }

    /// ASCII case-insensitive equality with `s`.
    func equalsIgnoringCase(_ s: String) -> Bool {
        var s = s
        return s.withUTF8 { u in
            guard u.count == count else { return false }
            for i in 0..<count where Self.lower(u[i]) != Self.lower(self[i]) { return false }
            return true
        }
    }

    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b | 0x20 : b }
}
