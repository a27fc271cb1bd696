// An incremental decoder for the chunked transfer coding (RFC 9112 §7.1).
//
//     chunked-body = *chunk last-chunk trailer-section CRLF
//     chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//
// It can stop at any byte and resume with more input. Chunk extensions are checked against
// their grammar (§7.1.1) and skipped:
//
//     chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//     chunk-ext-name = token;  chunk-ext-val = token / quoted-string
//
// so a bare ";", a name that is not a token, and whitespace after the size with no
// extension after it are all 400. Trailer fields are accepted and discarded. A chunk size
// that is not hex, or longer than 15 hex digits (over 2^60), is rejected before it can
// overflow.

public struct ChunkedDecoder: Equatable, Sendable {
    enum State: Equatable, Sendable {
        case size(digits: Int)      // reading hex digits of the chunk size
        case sizeSpace              // whitespace after the size or a value: ";" must follow
        case extensionNameStart     // after ";" (and whitespace): a name must follow
        case extensionName
        case extensionAfterName     // whitespace after a name: "=" or ";" must follow
        case extensionValueStart    // after "=" (and whitespace)
        case extensionToken
        case extensionQuoted
        case extensionQuotedEscape
        case extensionAfterValue    // after a closing quote: ";", whitespace or CR
        case sizeLF                 // after CR of the size line
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLineStart       // at the start of a trailer line (or the final CRLF)
        case trailerLine            // inside a trailer field line
        case trailerLF(last: Bool)  // after a CR in the trailer section
        case done
    }

    public enum Outcome: Equatable, Sendable {
        /// All of the input was used and more is needed.
        case needMore
        /// The body ended; `consumed` bytes of this input belonged to it.
        case done(consumed: Int)
        case invalid(HTTPStatus)
    }

    var state: State = .size(digits: 0)
    var size = 0
    /// Decoded body bytes so far.
    public private(set) var decodedBytes = 0
    /// Bytes of chunk extensions and trailer fields so far, limited like header bytes.
    var metadataBytes = 0

    public init() {}

    public var isDone: Bool { state == .done }

    /// Decodes `input`, handing each run of body bytes to `sink`.
    public mutating func decode(_ input: UnsafeRawBufferPointer, limits: HTTPLimits,
                                sink: (UnsafeRawBufferPointer) -> Void) -> Outcome {
        var i = 0
        let n = input.count
        while i < n {
            let c = input[i]
            switch state {
            case .data(let remaining):
                let take = min(remaining, n - i)
                sink(UnsafeRawBufferPointer(rebasing: input[i..<i + take]))
                i += take
                state = remaining == take ? .dataCR : .data(remaining: remaining - take)
                continue
            case .size(let digits):
                if let v = HexDigit.value(c) {
                    if digits == 15 { return .invalid(.badRequest) }
                    size = size << 4 | v
                    state = .size(digits: digits + 1)
                } else if digits == 0 {
                    return .invalid(.badRequest)
                } else if c == 13 {
                    state = .sizeLF
                } else if c == Self.semicolon {
                    state = .extensionNameStart
                } else if c == 32 || c == 9 {
                    state = .sizeSpace
                } else {
                    return .invalid(.badRequest)
                }
            case .sizeSpace, .extensionNameStart, .extensionName, .extensionAfterName, .extensionValueStart,
                 .extensionToken, .extensionQuoted, .extensionQuotedEscape, .extensionAfterValue:
                metadataBytes += 1
                if metadataBytes > limits.maxHeaderBytes { return .invalid(.headerFieldsTooLarge) }
                guard let next = extensionStep(c) else { return .invalid(.badRequest) }
                state = next
            case .sizeLF:
                guard c == 10 else { return .invalid(.badRequest) }
                if size == 0 {
                    state = .trailerLineStart
                } else {
                    if decodedBytes + size > limits.maxBodyBytes { return .invalid(.contentTooLarge) }
                    decodedBytes += size
                    state = .data(remaining: size)
                }
                size = 0
            case .dataCR:
                guard c == 13 else { return .invalid(.badRequest) }
                state = .dataLF
            case .dataLF:
                guard c == 10 else { return .invalid(.badRequest) }
                state = .size(digits: 0)
            case .trailerLineStart:
                if c == 13 { state = .trailerLF(last: true) }
                else if c == 32 || c == 9 { return .invalid(.badRequest) }  // obs-fold
                else if c < 0x20 || c == 0x7F { return .invalid(.badRequest) }
                else { state = .trailerLine }
            case .trailerLine:
                metadataBytes += 1
                if metadataBytes > limits.maxHeaderBytes { return .invalid(.headerFieldsTooLarge) }
                if c == 13 { state = .trailerLF(last: false) }
                else if c < 0x20 && c != 9 || c == 0x7F { return .invalid(.badRequest) }
            case .trailerLF(let last):
                guard c == 10 else { return .invalid(.badRequest) }
                if last {
                    state = .done
                    return .done(consumed: i + 1)
                }
                state = .trailerLineStart
            case .done:
                return .done(consumed: i)
            }
            i += 1
        }
        return .needMore
    }

    static let semicolon = UInt8(ascii: ";")

    /// One byte of a chunk extension: the next state, or nil when the byte breaks the grammar.
    func extensionStep(_ c: UInt8) -> State? {
        let isSpace = c == 32 || c == 9
        switch state {
        case .sizeSpace:
            return isSpace ? .sizeSpace : c == Self.semicolon ? .extensionNameStart : nil
        case .extensionNameStart:
            return isSpace ? .extensionNameStart : HeadParser.isToken(c) ? .extensionName : nil
        case .extensionName:
            if HeadParser.isToken(c) { return .extensionName }
            if c == UInt8(ascii: "=") { return .extensionValueStart }
            if c == Self.semicolon { return .extensionNameStart }
            if c == 13 { return .sizeLF }
            return isSpace ? .extensionAfterName : nil
        case .extensionAfterName:
            if isSpace { return .extensionAfterName }
            if c == UInt8(ascii: "=") { return .extensionValueStart }
            return c == Self.semicolon ? .extensionNameStart : nil
        case .extensionValueStart:
            if isSpace { return .extensionValueStart }
            if c == UInt8(ascii: "\"") { return .extensionQuoted }
            return HeadParser.isToken(c) ? .extensionToken : nil
        case .extensionToken:
            if HeadParser.isToken(c) { return .extensionToken }
            if c == Self.semicolon { return .extensionNameStart }
            if c == 13 { return .sizeLF }
            return isSpace ? .sizeSpace : nil
        case .extensionQuoted:
            // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
            if c == UInt8(ascii: "\"") { return .extensionAfterValue }
            if c == UInt8(ascii: "\\") { return .extensionQuotedEscape }
            return isSpace || (c >= 0x21 && c != 0x7F) ? .extensionQuoted : nil
        case .extensionQuotedEscape:
            return isSpace || (c >= 0x21 && c != 0x7F) ? .extensionQuoted : nil
        case .extensionAfterValue:
            if c == 13 { return .sizeLF }
            if c == Self.semicolon { return .extensionNameStart }
            return isSpace ? .sizeSpace : nil
        default:
            return nil
        }
    }
}
