import Testing
@testable import HTTP1

// The vectorised head parser against the byte-at-a-time oracle (ReferenceHeadParser): the
// same end search, the same status, the same ranges and fields, on valid requests, on
// requests with one byte changed, and around the 16-byte block edges where the vector and
// scalar forms of a byte class hand over to each other.

@Suite struct VectorisedParserTests {
    /// Runs both parsers over `input` (and over it followed by `trailer`, as pipelined bytes
    /// are, so that blocks may load past the head's end) and records any difference.
    func compare(_ input: [UInt8], trailer: [UInt8] = [], limits: HTTPLimits = HTTPLimits(),
                 sourceLocation: SourceLocation = #_sourceLocation) {
        let buffer = input + trailer
        buffer.withUnsafeBytes { all in
            let raw = UnsafeRawBufferPointer(rebasing: all[0..<input.count])
            for from in [0, input.count / 2] {
                let fast = HeadParser.findEnd(raw, start: 0, from: from)
                let slow = ReferenceHeadParser.findEnd(raw, start: 0, from: from)
                #expect(fast == slow, "findEnd from \(from) of \(String(decoding: input, as: UTF8.self).debugDescription)",
                        sourceLocation: sourceLocation)
            }
            guard case .found(let end) = ReferenceHeadParser.findEnd(raw, start: 0, from: 0) else { return }
            // With the trailer in view, the parser may load blocks beyond `end`; it must not
            // read them as part of the head.
            let view = trailer.isEmpty ? raw : all
            var a = [HeaderField](repeating: HeaderField(name: .empty, value: .empty), count: limits.maxHeaderCount + 1)
            var b = a
            let fast = a.withUnsafeMutableBufferPointer { HeadParser.parse(view, start: 0, end: end, limits: limits, fields: $0) }
            let slow = b.withUnsafeMutableBufferPointer { ReferenceHeadParser.parse(raw, start: 0, end: end, limits: limits, fields: $0) }
            #expect(fast == slow, "parse of \(String(decoding: input, as: UTF8.self).debugDescription)",
                    sourceLocation: sourceLocation)
            if case .complete(let head) = slow {
                #expect(Array(a[0..<head.fieldCount]) == Array(b[0..<head.fieldCount]), sourceLocation: sourceLocation)
            }
        }
    }

    static let samples: [String] = [
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n",
        "POST /upload?name=a&x=%20y HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
        "GET /a/very/long/path/that/spans/several/blocks/of/sixteen/bytes/index.html?query=1?2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\nCookie: a=1; b=2; c=a-long-cookie-value-with-many-bytes-in-it-to-cross-blocks\r\nX-Tab:\tvalue\twith\ttabs\t \r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\nX-Empty:\r\nX-Spaces:    \r\n\r\n",
        "DELETE /r HTTP/1.1\r\nHOST: [::1]:80\r\nCONTENT-LENGTH: 2\r\nCONNECTION: Keep-Alive, CLOSE\r\nEXPECT: 100-CONTINUE\r\n\r\n",
        "PATCH /q HTTP/1.1\r\nhost: a.b\r\ntransfer-encoding: chunked\r\ncontent-lengtH: 1\r\n\r\n",
    ]

    @Test func theSamplesParseAlike() {
        for s in Self.samples {
            compare(Array(s.utf8))
            compare(Array(s.utf8), trailer: Array(Self.samples[0].utf8))
        }
    }

    /// Every byte value at every position of each sample: each class's boundary bytes (SP,
    /// HTAB, CR, LF, `?`, `:`, DEL, 0x80, NUL) land in every lane of a block and in the tail.
    @Test func everyByteAtEveryPositionParsesAlike() {
        // Around each class's edges, and bytes that fold onto a name's letters or '-' with 0x20.
        let interesting: [UInt8] = [0, 9, 10, 13, 0x1F, 0x20, 0x21, 0x22, 0x2D, 0x3A, 0x3F, 0x40, 0x5F, 0x7E, 0x7F,
                                    0x80, 0xFF, 0x41, 0x61, 0x47, 0x67, 0x0D | 0x40]
        for s in Self.samples {
            let base = Array(s.utf8)
            for position in 0..<base.count {
                for byte in interesting {
                    var input = base
                    input[position] = byte
                    compare(input)
                    compare(input, trailer: Array("GET / HTTP/1.1\r\n\r\n".utf8))
                }
            }
        }
    }

    /// Lines of every length from 0 to 40 bytes, so each stop byte falls at every offset
    /// from a block's start and in the scalar tail.
    @Test func lineLengthsAcrossBlockEdgesParseAlike() {
        for length in 0...40 {
            let word = String(repeating: "a", count: length)
            compare(Array("GET /\(word) HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
            compare(Array("GET /\(word)?\(word) HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
            compare(Array("GET / HTTP/1.1\r\nHost: h\r\nX-\(word): \(word)  \r\n\r\n".utf8))
            compare(Array("GET / HTTP/1.1\r\nHost: h\r\nX: \(word)\u{7F}\r\n\r\n".utf8))
            compare(Array("GET / HTTP/1.1\r\nHost: h\r\nX: \(word)\r\r\n\r\n".utf8))
            compare(Array("GET / HTTP/1.1\r\nHost: h\r\nX: \(word)\n\r\n".utf8), trailer: Array(word.utf8))
        }
    }

    /// Random heads from a small grammar with random damage, over a fixed seed.
    @Test func randomHeadsParseAlike() {
        var rng = SplitMix64(seed: 9)
        let pieces = ["GET", "POST", " ", "/", "/a?b", "?", "HTTP/1.1", "HTTP/1.0", "\r\n", "\n", "\r",
                      "Host: h", "Content-Length: 3", "Transfer-Encoding: chunked", "Connection: close",
                      ":", "\t", "x", String(repeating: "y", count: 17), "\u{7F}", "\u{00}", "é"]
        let limits = HTTPLimits(maxHeaderBytes: 256, maxTargetBytes: 64, maxHeaderCount: 8, maxBodyBytes: 4096)
        for _ in 0..<20_000 {
            var s = "GET /" + (Bool.random(using: &rng) ? "" : "p") + " HTTP/1.1\r\n"
            for _ in 0..<Int.random(in: 0...12, using: &rng) { s += pieces.randomElement(using: &rng)! }
            s += "\r\n\r\n"
            compare(Array(s.utf8), limits: limits)
        }
    }

    /// The end search over strings of CR, LF and one letter, from every start and resume
    /// point: where blocks begin before `start`, overlap the buffer's end, or split a CRLF.
    @Test func theEndSearchMatchesFromEveryStartAndResumePoint() {
        var rng = SplitMix64(seed: 4)
        let alphabet: [UInt8] = [13, 10, 0x61, 13, 10]
        for _ in 0..<3_000 {
            let input = (0..<Int.random(in: 0...48, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            input.withUnsafeBytes { raw in
                for start in 0...min(input.count, 20) {
                    for from in start...input.count {
                        let fast = HeadParser.findEnd(raw, start: start, from: from)
                        let slow = ReferenceHeadParser.findEnd(raw, start: start, from: from)
                        #expect(fast == slow, "\(input) start \(start) from \(from)")
                    }
                }
            }
        }
    }

    @Test func theTokenBitmapIsTheTokenSet() {
        for c in 0...255 {
            #expect(HeadParser.isToken(UInt8(c)) == ReferenceHeadParser.isTokenByte(UInt8(c)), "byte \(c)")
        }
    }

    /// Each byte class's vector form against its scalar form, for every byte in every lane.
    @Test func eachByteClassHasOneMeaning() {
        func check<C: ByteClass>(_ c: C.Type) {
            for byte in 0...255 {
                for lane in 0..<16 {
                    var block = [UInt8](repeating: 0x41, count: 16)
                    block[lane] = UInt8(byte)
                    let m = block.withUnsafeBytes { C.lanes($0.loadUnaligned(as: ByteLanes.self)) }
                    let member = C.contains(UInt8(byte))
                    #expect(ByteScan.firstLane(m) == (member ? lane : 16), "\(C.self) byte \(byte) lane \(lane)")
                    #expect(ByteScan.any(m) == member)
                }
            }
        }
        check(LineFeed.self)
        check(TargetStop.self)
        check(ValueStop.self)
        check(TokenStop.self)
        check(HostStop.self)
    }

    @Test func theHostMapIsTheHostSet() {
        for c in 0...255 {
            #expect(HostStop.contains(UInt8(c)) == !ReferenceHeadParser.hostBytes.contains(UInt8(c)), "byte \(c)")
        }
    }
}
