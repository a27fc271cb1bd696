// The head parser as it was before its scans were vectorised: one byte at a time, with
// token bytes from a set written out here rather than the parser's bitmap. It is the
// oracle of the differential test and the head fuzzer: the vectorised parser must give
// the same answer, status for status and range for range, on every input. Only the scans
// live here, with the recognition of field names and the Host check, which are vectorised
// too; the helpers that read a found field's value (Content-Length, codings) are the
// parser's own, which its unit tests cover. (`make fuzz` compiles this file into the HTTP1
// module itself, with FUZZING set.)
#if !FUZZING
@testable import HTTP1
#endif

enum ReferenceHeadParser {
    static let cr: UInt8 = 13, lf: UInt8 = 10, sp: UInt8 = 32, htab: UInt8 = 9, colon: UInt8 = 58
    static let tokenBytes: Set<UInt8> = Set(Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&'*+-.^_`|~".utf8))
    static func isTokenByte(_ c: UInt8) -> Bool { tokenBytes.contains(c) }
    static func isFieldValue(_ c: UInt8) -> Bool { c >= 0x20 ? c != 0x7F : c == htab }

    /// Finds the blank line that ends a head starting at `start`, resuming at `from`.
    static func findEnd(_ bytes: UnsafeRawBufferPointer, start: Int, from: Int) -> HeadParser.EndSearch {
        var i = max(from, start)
        let n = bytes.count
        while i < n {
            if bytes[i] == lf {
                if i == start || bytes[i - 1] != cr { return .bareLF }
                // "\r\n\r\n": the previous line was empty.
                if i - start >= 3 && bytes[i - 2] == lf { return .found(end: i + 1) }
            }
            i += 1
        }
        // Resume one byte back so that a CR at the very end is re-examined with its LF.
        return .notYet(resumeAt: max(start, n - 1))
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, start: Int, end: Int,
                             limits: HTTPLimits,
                             fields: UnsafeMutableBufferPointer<HeaderField>) -> HeadParseResult {
        var head = RequestHead()
        head.headStart = start
        head.headEnd = end
        var i = start

        // request-line = method SP request-target SP HTTP-version CRLF
        let methodStart = i
        while i < end && isTokenByte(bytes[i]) { i += 1 }
        // Length first: the connection machine rejects an over-long method before the rest
        // of the line arrives, and the same bytes must get the same answer however they come.
        if i - methodStart > HeadParser.maxMethodBytes { return .invalid(.notImplemented) }
        if i == methodStart || i >= end || bytes[i] != sp { return .invalid(.badRequest) }
        head.methodRange = ByteRange(start: methodStart, count: i - methodStart)
        head.method = HeadParser.method(bytes, methodStart, i - methodStart)
        // This is an origin server: it opens no tunnels (RFC 9110 §9.3.6).
        if head.method == .connect { return .invalid(.notImplemented) }
        i += 1

        let targetStart = i
        var queryMark = -1
        while i < end {
            let c = bytes[i]
            if c == sp { break }
            // request-target bytes are visible ASCII; anything else (controls, DEL, obs-text) is malformed.
            if c <= 0x20 || c >= 0x7F { return .invalid(.badRequest) }
            if c == UInt8(ascii: "?") && queryMark < 0 { queryMark = i }
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
              bytes[i + 4] == UInt8(ascii: "/"), HeadParser.isDigit(bytes[i + 5]),
              bytes[i + 6] == UInt8(ascii: "."), HeadParser.isDigit(bytes[i + 7]),
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
            while i < end && isTokenByte(bytes[i]) { i += 1 }
            // An empty name, or whitespace (or anything else) between name and colon: 400.
            if i == nameStart || i >= end || bytes[i] != colon { return .invalid(.badRequest) }
            let nameCount = i - nameStart
            i += 1
            while i < end && (bytes[i] == sp || bytes[i] == htab) { i += 1 }
            let valueStart = i
            var valueEnd = i
            while i < end {
                let c = bytes[i]
                if c == cr { break }
                if !isFieldValue(c) { return .invalid(.badRequest) }
                i += 1
                if c != sp && c != htab { valueEnd = i }
            }
            // A CR must be followed by LF: a bare CR is rejected.
            if i + 1 >= end || bytes[i + 1] != lf { return .invalid(.badRequest) }
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
                guard let n = HeadParser.parseContentLength(bytes, value) else { return .invalid(.badRequest) }
                if let previous = contentLength, previous != n { return .invalid(.badRequest) }
                contentLength = n
            case .transferEncoding:
                sawTransferEncoding = true
                if !HeadParser.scanCodings(bytes, value, chunkedIsFinal: &chunkedIsFinal, unsupported: &unsupportedCoding) {
                    return .invalid(.badRequest)
                }
            case .connection:
                HeadParser.forEachToken(bytes, value) { token in
                    if HeadParser.equalsLowercase(bytes, token, "close") { connectionClose = true }
                    else if HeadParser.equalsLowercase(bytes, token, "keep-alive") { connectionKeepAlive = true }
                }
            case .expect:
                // HTTP/1.0 has no expectations: ignored (RFC 9110 §10.1.1), so no 1xx goes to it.
                if head.minorVersion == 0 { break }
                if HeadParser.equalsLowercase(bytes, value, "100-continue") {
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


    static func knownField(_ b: UnsafeRawBufferPointer, _ name: ByteRange) -> HeadParser.KnownField {
        switch name.count {
        case 4: return HeadParser.equalsLowercase(b, name, "host") ? .host : .other
        case 6: return HeadParser.equalsLowercase(b, name, "expect") ? .expect : .other
        case 10: return HeadParser.equalsLowercase(b, name, "connection") ? .connection : .other
        case 14: return HeadParser.equalsLowercase(b, name, "content-length") ? .contentLength : .other
        case 17: return HeadParser.equalsLowercase(b, name, "transfer-encoding") ? .transferEncoding : .other
        default: return .other
        }
    }

    static let hostBytes: Set<UInt8> = Set(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:[]%".utf8))

    static func isValidHost(_ b: UnsafeRawBufferPointer, _ r: ByteRange) -> Bool {
        (r.lowerBound..<r.upperBound).allSatisfy { hostBytes.contains(b[$0]) }
    }
}
