// Vectorised searches over request bytes, sixteen at a time with Swift's SIMD types.
//
// Each search compares a 16-byte block against a byte class in a few vector instructions
// and takes the first lane that matched. Header lines are 20 to 200 bytes, so most blocks
// match nothing and are passed over whole; the byte-at-a-time loop they replace spent 3 to
// 4 ns per byte here.
//
// A block is loaded only where all sixteen bytes lie inside the caller's buffer: near its
// end the block is the buffer's last sixteen bytes, with the lanes before the search's
// start masked off. Only a buffer shorter than a block is classified one byte at a time, by
// the class's scalar form, so both forms must agree: the head parser's differential test
// and fuzzer check the result against a byte-at-a-time oracle.

typealias ByteLanes = SIMD16<UInt8>

/// A byte class: its vector form (which lanes belong) and its scalar form (does one byte).
protocol ByteClass {
    static func lanes(_ v: ByteLanes) -> SIMDMask<SIMD16<Int8>>
    static func contains(_ c: UInt8) -> Bool
}

enum ByteScan {
    /// The first lane set in `m`, or 16 when none is. Swift exposes no pmovmskb, so the
    /// mask is read as two 64-bit words of 0x00 and 0xFF bytes: the first set byte's
    /// trailing zeros over 8 is its lane (an empty low word gives 64, so 8 + 8 = 16).
    @inline(__always) static func firstLane(_ m: SIMDMask<SIMD16<Int8>>) -> Int {
        let words = unsafeBitCast(m, to: SIMD2<UInt64>.self)
        return words[0] != 0 ? words[0].trailingZeroBitCount &>> 3 : 8 &+ words[1].trailingZeroBitCount &>> 3
    }

    /// Whether any lane of `m` is set (the standard library's `any` is an out-of-line
    /// reduction here).
    @inline(__always) static func any(_ m: SIMDMask<SIMD16<Int8>>) -> Bool {
        let words = unsafeBitCast(m, to: SIMD2<UInt64>.self)
        return words[0] | words[1] != 0
    }

    /// Lanes outside visible ASCII, 0x21...0x7E (SP, controls, DEL, obs-text): subtracting
    /// 0x21 wraps every other byte to 0x5E or more. A stop in every class below.
    @inline(__always) static func notVisible(_ v: ByteLanes) -> SIMDMask<SIMD16<Int8>> {
        (v &- ByteLanes(repeating: 0x21)) .>= ByteLanes(repeating: 0x5E)
    }

    /// The lanes of a block loaded at `at` that come at or after `from`. (The lane numbers
    /// are a literal, folded into a constant: a `static let` would cost a lazy-initialisation
    /// check.)
    @inline(__always) static func lanes(at: Int, from: Int) -> SIMDMask<SIMD16<Int8>> {
        let laneNumbers = ByteLanes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        return laneNumbers .>= ByteLanes(repeating: UInt8(truncatingIfNeeded: from &- at))
    }

    /// The index of the first byte of class `C` in `bytes[from..<end]`, or `end`.
    ///
    /// Blocks are not cut at `end`: a match found beyond it is read as none, which is the
    /// same answer, and saves masking the last block of every search. A block may so read
    /// up to 15 bytes past `end` (a pipelined request's), never past the buffer.
    @inline(__always)
    static func first<C: ByteClass>(_ c: C.Type, in bytes: UnsafeRawBufferPointer, from: Int, end: Int) -> Int {
        var i = from
        if let base = bytes.baseAddress, bytes.count >= 16 {
            let lastBlock = bytes.count &- 16
            while i < end {
                let at = min(i, lastBlock)
                var m = C.lanes((base + at).loadUnaligned(as: ByteLanes.self))
                if at != i { m = m .& lanes(at: at, from: i) }
                let lane = firstLane(m)
                if lane < 16 { return min(at &+ lane, end) }
                i = at &+ 16
            }
            return end
        }
        while i < end {
            if C.contains(bytes[i]) { return i }
            i += 1
        }
        return end
    }
}

/// LF, which ends every line of a head.
enum LineFeed: ByteClass {
    @inline(__always) static func lanes(_ v: ByteLanes) -> SIMDMask<SIMD16<Int8>> {
        v .== ByteLanes(repeating: 10)
    }
    @inline(__always) static func contains(_ c: UInt8) -> Bool { c == 10 }
}

/// Bytes that end or break a request-target: anything but visible ASCII (SP, controls,
/// DEL, obs-text), and `?`, where the query starts.
enum TargetStop: ByteClass {
    @inline(__always) static func lanes(_ v: ByteLanes) -> SIMDMask<SIMD16<Int8>> {
        ByteScan.notVisible(v) .| (v .== ByteLanes(repeating: 0x3F))
    }
    @inline(__always) static func contains(_ c: UInt8) -> Bool {
        c &- 0x21 >= 0x5E || c == 0x3F
    }
}

/// Bytes that end or break a field value: controls other than HTAB (CR among them), and DEL.
enum ValueStop: ByteClass {
    @inline(__always) static func lanes(_ v: ByteLanes) -> SIMDMask<SIMD16<Int8>> {
        (v .< ByteLanes(repeating: 0x20) .& (v .!= ByteLanes(repeating: 9))) .| (v .== ByteLanes(repeating: 0x7F))
    }
    @inline(__always) static func contains(_ c: UInt8) -> Bool {
        c < 0x20 ? c != 9 : c == 0x7F
    }
}

/// Bytes that are not tchar (RFC 9110 §5.6.2), which end a method or a field name. tchar is
/// visible ASCII but for the delimiters `"(),/:;<=>?@[\\]{}`.
enum TokenStop: ByteClass {
    @inline(__always) static func lanes(_ v: ByteLanes) -> SIMDMask<SIMD16<Int8>> {
        let quoteOrComma = (v .== ByteLanes(repeating: 0x22)) .| (v .== ByteLanes(repeating: 0x2C))
        let parens = (v & ByteLanes(repeating: 0xFE)) .== ByteLanes(repeating: 0x28)  // ( )
        let slash = v .== ByteLanes(repeating: 0x2F)
        let colonToAt = (v &- ByteLanes(repeating: 0x3A)) .< ByteLanes(repeating: 7)  // : ; < = > ? @
        let brackets = (v &- ByteLanes(repeating: 0x5B)) .< ByteLanes(repeating: 3)  // [ \ ]
        let braces = (v .== ByteLanes(repeating: 0x7B)) .| (v .== ByteLanes(repeating: 0x7D))
        return ByteScan.notVisible(v) .| quoteOrComma .| parens .| slash .| colonToAt .| brackets .| braces
    }
    @inline(__always) static func contains(_ c: UInt8) -> Bool { !HeadParser.isToken(c) }
}

/// Bytes a Host field may not hold (RFC 9112 §3.2: reg-name, IPv4 or a bracketed
/// IP-literal, and a port): anything but unreserved, sub-delims, `%`, `:` and brackets.
enum HostStop: ByteClass {
    @inline(__always) static func lanes(_ v: ByteLanes) -> SIMDMask<SIMD16<Int8>> {
        let quoteOrHash = (v & ByteLanes(repeating: 0xFE)) .== ByteLanes(repeating: 0x22)  // " #
        let slashOrLess = (v .== ByteLanes(repeating: 0x2F)) .| (v .== ByteLanes(repeating: 0x3C))
        let greaterToAt = (v &- ByteLanes(repeating: 0x3E)) .< ByteLanes(repeating: 3)  // > ? @
        let backslashCaretBacktick = (v .== ByteLanes(repeating: 0x5C)) .| (v .== ByteLanes(repeating: 0x5E))
            .| (v .== ByteLanes(repeating: 0x60))
        let braces = (v &- ByteLanes(repeating: 0x7B)) .< ByteLanes(repeating: 3)  // { | }
        return ByteScan.notVisible(v) .| quoteOrHash .| slashOrLess .| greaterToAt .| backslashCaretBacktick .| braces
    }
    @inline(__always) static func contains(_ c: UInt8) -> Bool {
        // The same set as a 128-bit map, for buffers shorter than a block.
        let low: UInt64 = 0x2FFF_7FF2_0000_0000  // '!', '$' ... ';', '='
        let high: UInt64 = 0x47FF_FFFE_AFFF_FFFE  // 'A' ... 'Z', '[', ']', '_', 'a' ... 'z', '~'
        if c >= 128 { return true }
        return ((c < 64 ? low : high) &>> UInt64(c & 63)) & 1 == 0
    }
}
