import Testing
@testable import HTTP1

@Suite("ChunkedDecoder")
struct ChunkedDecoderTests {
    /// Feeds `input` to `decoder` in one call; returns the outcome and the body bytes the sink saw.
    static func decode(_ input: [UInt8], _ decoder: inout ChunkedDecoder,
                       limits: HTTPLimits = HTTPLimits()) -> (ChunkedDecoder.Outcome, [UInt8]) {
        var body: [UInt8] = []
        let outcome = input.withUnsafeBytes { raw in
            decoder.decode(raw, limits: limits) { body.append(contentsOf: $0) }
        }
        return (outcome, body)
    }

    static func decode(_ text: String, limits: HTTPLimits = HTTPLimits()) -> (ChunkedDecoder.Outcome, [UInt8]) {
        var decoder = ChunkedDecoder()
        return decode(bytes(text), &decoder, limits: limits)
    }

    /// Feeds `input` split at `cuts` (sorted offsets), one call per piece. Returns each
    /// piece's outcome and the body.
    static func decodePieces(_ input: [UInt8], cuts: [Int], limits: HTTPLimits = HTTPLimits())
        -> (outcomes: [ChunkedDecoder.Outcome], body: [UInt8], decoder: ChunkedDecoder) {
        var decoder = ChunkedDecoder()
        var outcomes: [ChunkedDecoder.Outcome] = []
        var body: [UInt8] = []
        var start = 0
        for end in cuts + [input.count] where end > start {
            let (o, b) = decode(Array(input[start..<end]), &decoder, limits: limits)
            outcomes.append(o)
            body += b
            start = end
        }
        return (outcomes, body, decoder)
    }

    static let twoChunks = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"

    @Test func simpleBodyDecodes() {
        let input = "5\r\nhello\r\n0\r\n\r\n"
        var decoder = ChunkedDecoder()
        let (outcome, body) = Self.decode(bytes(input), &decoder)
        #expect(outcome == .done(consumed: input.utf8.count))
        #expect(body == bytes("hello"))
        #expect(decoder.decodedBytes == 5)
        #expect(decoder.isDone)
    }

    @Test func emptyBodyIsJustTheLastChunk() {
        var decoder = ChunkedDecoder()
        let (outcome, body) = Self.decode(bytes("0\r\n\r\n"), &decoder)
        #expect(outcome == .done(consumed: 5))
        #expect(body.isEmpty)
        #expect(decoder.decodedBytes == 0)
    }

    @Test func severalChunksConcatenateWithHexSizes() {
        let (outcome, body) = Self.decode(Self.twoChunks)
        #expect(outcome == .done(consumed: Self.twoChunks.utf8.count))
        #expect(body == bytes("hello world"))

        // Sizes in hex, upper and lower case, with leading zeros.
        let ten = "0123456789"
        let sixteen = "abcdefghijklmnop"
        let input = "A\r\n\(ten)\r\n10\r\n\(sixteen)\r\n00b\r\n\(ten)!\r\n0\r\n\r\n"
        let (o2, b2) = Self.decode(input)
        #expect(o2 == .done(consumed: input.utf8.count))
        #expect(b2 == bytes(ten + sixteen + ten + "!"))
    }

    @Test func chunkExtensionsAreSkipped() {
        let input = "5;name=value\r\nhello\r\n3 ; a=\"quoted; text\"\r\nabc\r\n4\t;x\r\nwxyz\r\n0;last=1\r\n\r\n"
        var decoder = ChunkedDecoder()
        let (outcome, body) = Self.decode(bytes(input), &decoder)
        #expect(outcome == .done(consumed: input.utf8.count))
        #expect(body == bytes("helloabcwxyz"))
        #expect(decoder.decodedBytes == 12)
    }

    @Test(arguments: [
        "1;a\r\nx\r\n0\r\n\r\n",
        "1;a=b\r\nx\r\n0\r\n\r\n",
        "1 ;a=b\r\nx\r\n0\r\n\r\n",
        "1 ; a = b ; c\r\nx\r\n0\r\n\r\n",
        "1;a=\"q \\\" ;x\"\r\nx\r\n0\r\n\r\n",
        "1;a=\"\" ;b=c\r\nx\r\n0\r\n\r\n",
        "1;!#$%&'*+-.^_`|~=token\r\nx\r\n0\r\n\r\n",
    ])
    func extensionsFollowingTheGrammarAreAccepted(_ text: String) {
        let (outcome, body) = Self.decode(text)
        #expect(outcome == .done(consumed: text.utf8.count), "\(text.debugDescription)")
        #expect(body == bytes("x"))
    }

    /// RFC 9112 §7.1.1, strictly: no bare ";", names are tokens, values are tokens or
    /// quoted strings, and whitespace after the size only before an extension.
    @Test(arguments: [
        "1;\r\nx\r\n0\r\n\r\n",          // bare ;
        "1;;a\r\nx\r\n0\r\n\r\n",        // empty name
        "1;a;\r\nx\r\n0\r\n\r\n",        // trailing bare ;
        "1 \r\nx\r\n0\r\n\r\n",          // whitespace after the size, no extension
        "1\t\r\nx\r\n0\r\n\r\n",
        "1;a@b\r\nx\r\n0\r\n\r\n",       // @ is not a token character
        "1;=b\r\nx\r\n0\r\n\r\n",        // no name
        "1;a=\r\nx\r\n0\r\n\r\n",        // = with no value
        "1;a=b c\r\nx\r\n0\r\n\r\n",     // two tokens
        "1;a b\r\nx\r\n0\r\n\r\n",
        "1;a=b \r\nx\r\n0\r\n\r\n",      // whitespace after a value, no extension after it
        "1;a=\"b\r\nx\r\n0\r\n\r\n",    // unterminated quote
        "1;a=\"b\"c\r\nx\r\n0\r\n\r\n",   // text after the closing quote
        "1;a=b@\r\nx\r\n0\r\n\r\n",
    ])
    func extensionsBreakingTheGrammarAre400(_ text: String) {
        #expect(Self.decode(text).0 == .invalid(.badRequest), "\(text.debugDescription)")
    }

    @Test func controlBytesInAChunkExtensionAre400() {
        var input = bytes("5;a=")
        input.append(0x01)
        input += bytes("\r\nhello\r\n0\r\n\r\n")
        var decoder = ChunkedDecoder()
        #expect(Self.decode(input, &decoder).0 == .invalid(.badRequest))
        #expect(Self.decode("5;a=\u{7F}\r\nhello\r\n0\r\n\r\n").0 == .invalid(.badRequest))
        #expect(Self.decode("5;a\nb\r\nhello\r\n0\r\n\r\n").0 == .invalid(.badRequest))
    }

    @Test func trailerFieldsAreAcceptedAndDiscarded() {
        let input = "3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other: two words\r\n\r\n"
        let (outcome, body) = Self.decode(input)
        #expect(outcome == .done(consumed: input.utf8.count))
        #expect(body == bytes("abc"))
    }

    @Test func malformedTrailersAre400() {
        // obs-fold in the trailer section
        #expect(Self.decode("0\r\nX-A: 1\r\n continued\r\n\r\n").0 == .invalid(.badRequest))
        // a bare CR inside a trailer line
        #expect(Self.decode("0\r\nX-A: 1\rx\r\n\r\n").0 == .invalid(.badRequest))
        // a bare LF ending the trailer section
        #expect(Self.decode("0\r\nX-A: 1\r\n\n").0 == .invalid(.badRequest))
        // a control byte inside a trailer line
        #expect(Self.decode("0\r\nX-A: \u{01}\r\n\r\n").0 == .invalid(.badRequest))
    }

    @Test(arguments: [
        "5\r\nhello\r\n0\r\n\r\n",
        ChunkedDecoderTests.twoChunks,
        "5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n",
        "0\r\n\r\n",
    ])
    func byteAtATimeMatchesAllAtOnce(_ text: String) {
        let input = bytes(text)
        let whole = Self.decode(text)
        let pieces = Self.decodePieces(input, cuts: Array(1..<input.count))
        // Every byte but the last leaves the decoder wanting more; the last one finishes it.
        #expect(pieces.outcomes.dropLast().allSatisfy { $0 == .needMore })
        #expect(pieces.outcomes.last == .done(consumed: 1))
        #expect(whole.0 == .done(consumed: input.count))
        #expect(pieces.body == whole.1)
        #expect(pieces.decoder.decodedBytes == whole.1.count)
        #expect(pieces.decoder.isDone)
    }

    @Test func randomSplitsMatchAllAtOnce() {
        var rng = SplitMix64(seed: 0xC0FFEE)
        let input = bytes("7;a=b\r\n1234567\r\n10\r\n0123456789abcdef\r\n1\r\nZ\r\n0\r\nT: v\r\nU: w\r\n\r\n")
        var wholeDecoder = ChunkedDecoder()
        let whole = Self.decode(input, &wholeDecoder)
        for _ in 0..<200 {
            let cutCount = Int.random(in: 1...6, using: &rng)
            let cuts = Set((0..<cutCount).map { _ in Int.random(in: 1..<input.count, using: &rng) }).sorted()
            let pieces = Self.decodePieces(input, cuts: cuts)
            #expect(pieces.body == whole.1, "cuts \(cuts)")
            #expect(pieces.outcomes.dropLast().allSatisfy { $0 == .needMore }, "cuts \(cuts)")
            if case .done(let consumed) = pieces.outcomes.last {
                #expect(consumed == input.count - (cuts.last ?? 0), "cuts \(cuts)")
            } else {
                Issue.record("last piece did not finish the body: \(String(describing: pieces.outcomes.last)), cuts \(cuts)")
            }
        }
    }

    @Test(arguments: ["g\r\n", "\r\n", "-1\r\n", "0x5\r\nhello\r\n", " 5\r\nhello\r\n", "5\nhello\r\n", "5\r\rhello\r\n", ";a\r\n"])
    func nonHexChunkSizeIs400(_ text: String) {
        #expect(Self.decode(text).0 == .invalid(.badRequest))
    }

    @Test func sixteenHexDigitsAre400BeforeOverflow() {
        #expect(Self.decode("1000000000000000\r\n").0 == .invalid(.badRequest))
        #expect(Self.decode("FFFFFFFFFFFFFFFF\r\n").0 == .invalid(.badRequest))
        #expect(Self.decode("0000000000000005\r\nhello\r\n0\r\n\r\n").0 == .invalid(.badRequest))
        // Fifteen digits are still a size: a small one decodes, a huge one is over the body limit.
        let (o, b) = Self.decode("000000000000005\r\nhello\r\n0\r\n\r\n")
        #expect(o == .done(consumed: 29))
        #expect(b == bytes("hello"))
        #expect(Self.decode("FFFFFFFFFFFFFFF\r\n").0 == .invalid(.contentTooLarge))
    }

    @Test(arguments: ["5\r\nhelloX\r\n0\r\n\r\n", "5\r\nhello\rX0\r\n\r\n", "5\r\nhello\n0\r\n\r\n", "5\r\nhello0\r\n\r\n", "3\r\nhello\r\n0\r\n\r\n",
                      "5\r\nhelloX\n0\r\n\r\n"])
    func missingCRLFAfterChunkDataIs400(_ text: String) {
        #expect(Self.decode(text).0 == .invalid(.badRequest))
    }

    @Test func bodyOverMaxBodyBytesIs413() {
        let limits = HTTPLimits(maxBodyBytes: 8)
        // Exactly at the limit is fine.
        let (atLimit, body) = Self.decode("5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n", limits: limits)
        #expect(atLimit == .done(consumed: 23))
        #expect(body.count == 8)
        // The limit is on the running total, checked when a size line ends (before its data).
        var decoder = ChunkedDecoder()
        let (over, sunk) = Self.decode(bytes("5\r\nhello\r\n4\r\n"), &decoder, limits: limits)
        #expect(over == .invalid(.contentTooLarge))
        #expect(sunk == bytes("hello"))
        // One chunk bigger than the limit on its own.
        #expect(Self.decode("9\r\n", limits: limits).0 == .invalid(.contentTooLarge))
    }

    @Test func extensionAndTrailerBytesAreLimitedLikeHeaders() {
        let limits = HTTPLimits(maxHeaderBytes: 16)
        #expect(Self.decode("1;" + String(repeating: "x", count: 20) + "\r\na\r\n0\r\n\r\n", limits: limits).0
                == .invalid(.headerFieldsTooLarge))
        #expect(Self.decode("0\r\nX-Trailer: " + String(repeating: "x", count: 20) + "\r\n\r\n", limits: limits).0
                == .invalid(.headerFieldsTooLarge))
        #expect(Self.decode("1;abc\r\na\r\n0\r\nX: y\r\n\r\n", limits: limits).0 == .done(consumed: 21))
    }

    @Test func doneLeavesPipelinedBytesUnconsumed() {
        let body = "4\r\nWiki\r\n0\r\nT: 1\r\n\r\n"
        let next = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
        var decoder = ChunkedDecoder()
        let (outcome, decoded) = Self.decode(bytes(body + next), &decoder)
        #expect(outcome == .done(consumed: body.utf8.count))
        #expect(decoded == bytes("Wiki"))
        // Once done, further input is not the body's: nothing more is consumed.
        let (again, more) = Self.decode(bytes(next), &decoder)
        #expect(again == .done(consumed: 0))
        #expect(more.isEmpty)
        #expect(decoder.decodedBytes == 4)
    }

    @Test func partialInputNeedsMoreAndSinksWhatItHas() {
        var decoder = ChunkedDecoder()
        let (o1, b1) = Self.decode(bytes("a\r\n0123"), &decoder)
        #expect(o1 == .needMore)
        #expect(b1 == bytes("0123"))
        let (o2, b2) = Self.decode(bytes("456789\r\n0\r\n"), &decoder)
        #expect(o2 == .needMore)
        #expect(b2 == bytes("456789"))
        #expect(!decoder.isDone)
        let (o3, b3) = Self.decode(bytes("\r\n"), &decoder)
        #expect(o3 == .done(consumed: 2))
        #expect(b3.isEmpty)
        #expect(decoder.decodedBytes == 10)
    }
}
