// A strict HTTP/1.1 request-head parser (RFC 9112 §2-§7, RFC 9110 §5).
//
// It works on a complete head: the connection state machine finds the end of the head
// first (`HeadParser.findEnd`, which also rejects bare LF), then `parse` reads it in one
// pass. Requests are small, so a single pass over a complete head is cheaper than an
// incremental parser's per-byte state, and slow-drip clients cannot make it quadratic
// because `findEnd` resumes where it stopped.
//
// Nothing is copied or allocated: the result is offsets into the caller's bytes, and header
// fields go into a caller-provided table.

/// The outcome of parsing one head.
public enum HeadParseResult: Equatable, Sendable {
    case complete(RequestHead)
    case invalid(HTTPStatus)
}

public enum HeadParser {
    // ASCII constants.
    @usableFromInline static let cr: UInt8 = 13
    @usableFromInline static let lf: UInt8 = 10
    @usableFromInline static let sp: UInt8 = 32
    @usableFromInline static let htab: UInt8 = 9
    @usableFromInline static let colon: UInt8 = 58

    /// tchar (RFC 9110 §5.6.2): bit `c` of a 128-bit set, written as two constants so that
    /// the test is a shift and a mask with no table to load (a global array cost a lazy
    /// initialisation check on every byte).
    @inline(__always) static func isToken(_ c: UInt8) -> Bool {
        let low: UInt64 = 0x03FF_6CFA_0000_0000  // '!' ... '9'
        let high: UInt64 = 0x57FF_FFFF_C7FF_FFFE  // 'A' ... '~'
        if c >= 128 { return false }
        return ((c < 64 ? low : high) &>> UInt64(c & 63)) & 1 != 0
    }

    /// Outcome of looking for the end of a head.
    public enum EndSearch: Equatable, Sendable {
        /// The head ends just before `end` (the index after the blank line).
        case found(end: Int)
        /// Not yet; resume the search at `resumeAt` when more bytes arrive.
        case notYet(resumeAt: Int)
        /// A LF without CR before it.
        case bareLF
    }

    /// Finds the blank line that ends a head starting at `start`, resuming at `from`.
    public static func findEnd(_ bytes: UnsafeRawBufferPointer, start: Int, from: Int) -> EndSearch {
        var i = max(from, start)
        let n = bytes.count
        // One byte at a time: a buffer too short for the blocks below, and otherwise the
        // first bytes, until the two before the search are in the head.
        let blocks = bytes.baseAddress != nil && n >= 18
        let scalarEnd = blocks ? min(n, start &+ 3) : n
        while i < scalarEnd {
            if bytes[i] == lf {
                if i == start || bytes[i - 1] != cr { return .bareLF }
                // "\r\n\r\n": the previous line was empty.
                if i - start >= 3 && bytes[i - 2] == lf { return .found(end: i + 1) }
            }
            i += 1
        }
        if blocks, let base = bytes.baseAddress {
            // Then sixteen LFs at a time, each beside the bytes 1 and 2 before it: an LF
            // must follow a CR, and the head ends at the first CRLF that follows an LF.
            // Near the end the block is the last sixteen bytes, with lanes already seen
            // masked off.
            while i < n {
                let at = min(i, n &- 16)
                let here = (base + at).loadUnaligned(as: ByteLanes.self)
                let oneBefore = (base + (at &- 1)).loadUnaligned(as: ByteLanes.self)
                let twoBefore = (base + (at &- 2)).loadUnaligned(as: ByteLanes.self)
                var lfs = here .== ByteLanes(repeating: lf)
                if at != i { lfs = lfs .& ByteScan.lanes(at: at, from: i) }
                let afterCR = oneBefore .== ByteLanes(repeating: cr)
                let bare = lfs .& .!afterCR
                let ends = lfs .& afterCR .& (twoBefore .== ByteLanes(repeating: lf))
                if ByteScan.any(bare .| ends) {
                    let lane = ByteScan.firstLane(bare .| ends)
                    return bare[lane] ? .bareLF : .found(end: at &+ lane &+ 1)
                }
                i = at &+ 16
            }
        }
        // Resume one byte back so that a CR at the very end is re-examined with its LF.
        return .notYet(resumeAt: max(start, n - 1))
    }

    /// Parses the head in `bytes[start..<end]` (as found by `findEnd`).
    /// The longest method token accepted (the longest registered, BASELINE-CONTROL, has 16
    /// bytes); longer ones get 501, never 414.
    public static let maxMethodBytes = 32

    public static func parse(_ bytes: UnsafeRawBufferPointer, start: Int, end: Int,
                             limits: HTTPLimits,
                             fields: UnsafeMutableBufferPointer<HeaderField>) -> HeadParseResult {
        var head = RequestHead()
        head.headStart = start
        head.headEnd = end
        var i = start

        // request-line = method SP request-target SP HTTP-version CRLF
        let methodStart = i
        i = ByteScan.first(TokenStop.self, in: bytes, from: i, end: end)
        // Length first: the connection machine rejects an over-long method before the rest
        // of the line arrives, and the same bytes must get the same answer however they come.
        if i - methodStart > Self.maxMethodBytes { return .invalid(.notImplemented) }
        if i == methodStart || i >= end || bytes[i] != sp { return .invalid(.badRequest) }
        head.methodRange = ByteRange(start: methodStart, count: i - methodStart)
        head.method = method(bytes, methodStart, i - methodStart)
        // This is an origin server: it opens no tunnels (RFC 9110 §9.3.6).
        if head.method == .connect { return .invalid(.notImplemented) }
        i += 1

        let targetStart = i
        var queryMark = -1
        while true {
            i = ByteScan.first(TargetStop.self, in: bytes, from: i, end: end)
            if i == end || bytes[i] == sp { break }
            // request-target bytes are visible ASCII; anything else (controls, DEL, obs-text) is malformed.
            if bytes[i] != UInt8(ascii: "?") { return .invalid(.badRequest) }
            if queryMark < 0 { queryMark = i }
            i += 1
        }
        let targetCount = i - targetStart
        if targetCount > limits.maxTargetBytes { return .invalid(.uriTooLong) }
        if targetCount == 0 || i >= end { return .invalid(.badRequest) }
        head.target = ByteRange(start: targetStart, count: targetCount)
        // asterisk-form is for OPTIONS only (RFC 9112 §3.2.4).
        if targetCount == 1 && bytes[targetStart] == UInt8(ascii: "*") && head.method != .options {
            return .invalid(.badRequest)
        }
        if queryMark >= 0 {
            head.path = ByteRange(start: targetStart, count: queryMark - targetStart)
            head.query = ByteRange(start: queryMark + 1, count: i - queryMark - 1)
        } else {
            head.path = head.target
        }
        i += 1  // SP

        // HTTP-version = "HTTP/" DIGIT "." DIGIT, then CRLF.
        guard i + 10 <= end,
              bytes[i] == UInt8(ascii: "H"), bytes[i + 1] == UInt8(ascii: "T"),
              bytes[i + 2] == UInt8(ascii: "T"), bytes[i + 3] == UInt8(ascii: "P"),
              bytes[i + 4] == UInt8(ascii: "/"), isDigit(bytes[i + 5]),
              bytes[i + 6] == UInt8(ascii: "."), isDigit(bytes[i + 7]),
              bytes[i + 8] == cr, bytes[i + 9] == lf
        else { return .invalid(.badRequest) }
        let major = bytes[i + 5] - UInt8(ascii: "0")
        let minor = bytes[i + 7] - UInt8(ascii: "0")
        if major != 1 { return .invalid(.versionNotSupported) }
        head.minorVersion = minor == 0 ? 0 : 1
        i += 10

        // Header fields.
        let fieldsStart = i
        var hostCount = 0
        var contentLength: Int? = nil
        var sawTransferEncoding = false
        var chunkedIsFinal = false
        var unsupportedCoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        var count = 0

        while true {
            if i + 2 > end { return .invalid(.badRequest) }
            if bytes[i] == cr {
                // The blank line: end of the head.
                if bytes[i + 1] != lf || i + 2 != end { return .invalid(.badRequest) }
                break
            }
            // obs-fold (a line starting with whitespace) is rejected (RFC 9112 §5.2).
            if bytes[i] == sp || bytes[i] == htab { return .invalid(.badRequest) }
            if i - fieldsStart > limits.maxHeaderBytes { return .invalid(.headerFieldsTooLarge) }
            if count >= limits.maxHeaderCount || count >= fields.count { return .invalid(.headerFieldsTooLarge) }

            let nameStart = i
            i = ByteScan.first(TokenStop.self, in: bytes, from: i, end: end)
            // An empty name, or whitespace (or anything else) between name and colon: 400.
            if i == nameStart || i >= end || bytes[i] != colon { return .invalid(.badRequest) }
            let nameCount = i - nameStart
            i += 1
            while i < end && (bytes[i] == sp || bytes[i] == htab) { i += 1 }
            // Field-value bytes are VCHAR, obs-text, SP and HTAB: the line must end at its
            // first other byte, and that byte must be CR followed by LF (a bare CR is rejected).
            let valueStart = i
            i = ByteScan.first(ValueStop.self, in: bytes, from: i, end: end)
            if i + 1 >= end || bytes[i] != cr || bytes[i + 1] != lf { return .invalid(.badRequest) }
            var valueEnd = i
            while valueEnd > valueStart && (bytes[valueEnd - 1] == sp || bytes[valueEnd - 1] == htab) { valueEnd -= 1 }
            i += 2

            let name = ByteRange(start: nameStart, count: nameCount)
            let value = ByteRange(start: valueStart, count: valueEnd - valueStart)
            fields[count] = HeaderField(name: name, value: value)
            count += 1

            switch knownField(bytes, name) {
            case .host:
                hostCount += 1
                // An empty Host names no server: rejected, as is more than one.
                if hostCount > 1 || value.count == 0 || !isValidHost(bytes, value) { return .invalid(.badRequest) }
            case .contentLength:
                guard let n = parseContentLength(bytes, value) else { return .invalid(.badRequest) }
                if let previous = contentLength, previous != n { return .invalid(.badRequest) }
                contentLength = n
            case .transferEncoding:
                sawTransferEncoding = true
                if !scanCodings(bytes, value, chunkedIsFinal: &chunkedIsFinal, unsupported: &unsupportedCoding) {
                    return .invalid(.badRequest)
                }
            case .connection:
                forEachToken(bytes, value) { token in
                    if equalsLowercase(bytes, token, "close") { connectionClose = true }
                    else if equalsLowercase(bytes, token, "keep-alive") { connectionKeepAlive = true }
                }
            case .expect:
                // HTTP/1.0 has no expectations: ignored (RFC 9110 §10.1.1), so no 1xx goes to it.
                if head.minorVersion == 0 { break }
                if equalsLowercase(bytes, value, "100-continue") {
                    head.expectContinue = true
                } else {
                    return .invalid(.expectationFailed)
                }
            case .other:
                break
            }
        }
        if i - fieldsStart > limits.maxHeaderBytes { return .invalid(.headerFieldsTooLarge) }
        head.fieldCount = count

        if head.minorVersion == 1 && hostCount == 0 { return .invalid(.badRequest) }
        if sawTransferEncoding {
            // Content-Length with Transfer-Encoding is a smuggling vector: rejected (RFC 9112 §6.3 allows it).
            if contentLength != nil { return .invalid(.badRequest) }
            // HTTP/1.0 has no transfer codings (RFC 9112 §6.1).
            if head.minorVersion == 0 { return .invalid(.badRequest) }
            if !chunkedIsFinal { return .invalid(.badRequest) }
            if unsupportedCoding { return .invalid(.notImplemented) }
            head.framing = .chunked
        } else if let n = contentLength, n > 0 {
            head.framing = .contentLength(n)
        }
        head.keepAlive = head.minorVersion == 1 ? !connectionClose : (connectionKeepAlive && !connectionClose)
        if head.framing == .none { head.expectContinue = false }
        return .complete(head)
    }

    // MARK: - Pieces

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    /// Host = uri-host [ ":" port ] (RFC 9112 §3.2): reg-name, IPv4 or an IP-literal in
    /// brackets, so only unreserved, sub-delims, pct-encoded, ':' and brackets.
    static func isValidHost(_ b: UnsafeRawBufferPointer, _ r: ByteRange) -> Bool {
        ByteScan.first(HostStop.self, in: b, from: r.lowerBound, end: r.upperBound) == r.upperBound
    }

    static func method(_ b: UnsafeRawBufferPointer, _ s: Int, _ n: Int) -> HTTPMethod {
        switch n {
        case 3:
            if b[s] == 71 && b[s + 1] == 69 && b[s + 2] == 84 { return .get }  // GET
            if b[s] == 80 && b[s + 1] == 85 && b[s + 2] == 84 { return .put }  // PUT
        case 4:
            if equals(b, s, "HEAD") { return .head }
            if equals(b, s, "POST") { return .post }
        case 5:
            if equals(b, s, "PATCH") { return .patch }
            if equals(b, s, "TRACE") { return .trace }
        case 6:
            if equals(b, s, "DELETE") { return .delete }
        case 7:
            if equals(b, s, "OPTIONS") { return .options }
            if equals(b, s, "CONNECT") { return .connect }
        default: break
        }
        return .other
    }

    @inline(__always) static func equals(_ b: UnsafeRawBufferPointer, _ s: Int, _ literal: StaticString) -> Bool {
        let p = literal.utf8Start
        for k in 0..<literal.utf8CodeUnitCount where b[s + k] != p[k] { return false }
        return true
    }

    /// Case-insensitive comparison of `range` with a lowercase ASCII literal.
    @inline(__always)
    public static func equalsLowercase(_ b: UnsafeRawBufferPointer, _ r: ByteRange, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        if Int(r.count) != n { return false }
        let p = literal.utf8Start
        let s = r.lowerBound
        for k in 0..<n {
            var c = b[s + k]
            if c >= 65 && c <= 90 { c |= 0x20 }  // fold A-Z only
            if c != p[k] { return false }
        }
        return true
    }

    enum KnownField { case host, contentLength, transferEncoding, connection, expect, other }

    @inline(__always) static func knownField(_ b: UnsafeRawBufferPointer, _ name: ByteRange) -> KnownField {
        // Names are tokens by now, and among token bytes only A-Z fold onto the letters and
        // '-' of these names when 0x20 is set, so one OR folds a whole word exactly. Words
        // are read from both ends of the name (they overlap when it is shorter than 16).
        let p = b.baseAddress! + name.lowerBound
        let n = name.upperBound - name.lowerBound
        @inline(__always) func word(_ at: Int) -> UInt64 { (p + at).loadUnaligned(as: UInt64.self) | 0x2020_2020_2020_2020 }
        switch n {
        case 4: return p.loadUnaligned(as: UInt32.self) | 0x2020_2020 == 0x7473_6F68 ? .host : .other
        case 6:
            let folded = UInt64(p.loadUnaligned(as: UInt32.self)) | UInt64((p + 4).loadUnaligned(as: UInt16.self)) << 32
            return folded | 0x2020_2020_2020 == 0x7463_6570_7865 ? .expect : .other
        case 10: return word(0) == 0x6974_6365_6E6E_6F63 && word(2) == 0x6E6F_6974_6365_6E6E ? .connection : .other
        case 14: return word(0) == 0x2D74_6E65_746E_6F63 && word(6) == 0x6874_676E_656C_2D74 ? .contentLength : .other
        case 17:
            return word(0) == 0x7265_6673_6E61_7274 && word(8) == 0x6E69_646F_636E_652D
                && (p + 16).load(as: UInt8.self) | 0x20 == 0x67 ? .transferEncoding : .other
        default: return .other
        }
    }

    /// Content-Length = 1*DIGIT; a list of identical values ("5, 5") is accepted as one
    /// (RFC 9110 §8.6), anything else is invalid. At most 18 digits, so no overflow.
    static func parseContentLength(_ b: UnsafeRawBufferPointer, _ r: ByteRange) -> Int? {
        var result: Int? = nil
        var valid = true
        forEachToken(b, r, allowEmpty: true) { token in
            guard valid else { return }
            if token.count == 0 || token.count > 18 { valid = false; return }
            var n = 0
            for k in token.lowerBound..<token.upperBound {
                let c = b[k]
                if !isDigit(c) { valid = false; return }
                n = n * 10 + Int(c - 48)
            }
            if let r = result, r != n { valid = false; return }
            result = n
        }
        return valid ? result : nil
    }

    /// Reads a Transfer-Encoding list. `chunked` must come last and only once; any other
    /// coding is one this server does not decode. Returns false for a malformed list.
    static func scanCodings(_ b: UnsafeRawBufferPointer, _ r: ByteRange,
                            chunkedIsFinal: inout Bool, unsupported: inout Bool) -> Bool {
        var valid = true
        var sawAny = false
        forEachToken(b, r, allowEmpty: true) { token in
            guard valid else { return }
            if token.count == 0 { valid = false; return }
            sawAny = true
            // A coding may carry parameters after ';': the name is what precedes them.
            var nameEnd = token.lowerBound
            while nameEnd < token.upperBound && isToken(b[nameEnd]) { nameEnd += 1 }
            let name = ByteRange(start: token.lowerBound, count: nameEnd - token.lowerBound)
            if name.count == 0 { valid = false; return }
            if equalsLowercase(b, name, "chunked") {
                // chunked twice ("chunked, chunked") or followed by parameters is malformed.
                if chunkedIsFinal || nameEnd != token.upperBound { valid = false; return }
                chunkedIsFinal = true
            } else {
                if chunkedIsFinal { chunkedIsFinal = false; valid = false; return }
                unsupported = true
            }
        }
        return valid && sawAny
    }

    /// Calls `body` with each comma-separated element of a field value, trimmed of OWS.
    @inline(__always)
    static func forEachToken(_ b: UnsafeRawBufferPointer, _ r: ByteRange, allowEmpty: Bool = false,
                             _ body: (ByteRange) -> Void) {
        var s = r.lowerBound
        let end = r.upperBound
        while s <= end {
            var e = s
            while e < end && b[e] != UInt8(ascii: ",") { e += 1 }
            var ts = s, te = e
            while ts < te && (b[ts] == sp || b[ts] == htab) { ts += 1 }
            while te > ts && (b[te - 1] == sp || b[te - 1] == htab) { te -= 1 }
            if te > ts || allowEmpty { body(ByteRange(start: ts, count: te - ts)) }
            s = e + 1
        }
    }
}
