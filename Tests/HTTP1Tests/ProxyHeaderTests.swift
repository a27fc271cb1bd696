import Testing
@testable import HTTP1

/// HAProxy's PROXY protocol, versions 1 and 2: the examples of its specification, every
/// way a header can be cut short or broken, and the lifecycle's use of it.
@Suite struct ProxyHeaderTests {
    func parse(_ bytes: [UInt8], maxLength: Int = ProxyHeader.defaultMaxLength, addressOnly: Bool = false) -> ProxyHeader.Parsed {
        bytes.withUnsafeBytes { ProxyHeader.parse($0, maxLength: maxLength, addressOnly: addressOnly) }
    }

    func parse(_ text: String) -> ProxyHeader.Parsed { parse(Array(text.utf8)) }

    /// A version 2 header: command (0 LOCAL, 1 PROXY), family and transport byte, then the
    /// address block and TLVs.
    static func v2(command: UInt8 = 1, familyTransport: UInt8, block: [UInt8], tlvs: [UInt8] = []) -> [UInt8] {
        let length = block.count + tlvs.count
        return ProxyHeader.v2Signature + [0x20 | command, familyTransport, UInt8(length >> 8), UInt8(length & 0xFF)] + block + tlvs
    }

    static let v4Block: [UInt8] = [192, 0, 2, 7, 10, 0, 0, 1, 0xC3, 0x50, 0x01, 0xBB]  // 192.0.2.7:50000 → 10.0.0.1:443

    @Test func version1TCP4NamesTheClientAndItsLength() {
        let line = "PROXY TCP4 192.0.2.7 10.0.0.1 50000 443\r\n"
        #expect(parse(line + "GET / HTTP/1.1\r\n") == .header(length: line.utf8.count, source: ClientAddress(ipv4: 192, 0, 2, 7, port: 50000)))
    }

    @Test func version1TCP6AndUnknown() {
        let line = "PROXY TCP6 2001:db8::7 2001:db8::1 50000 443\r\n"
        guard case .header(let length, let source?) = parse(line) else { Issue.record("not a header"); return }
        #expect(length == line.utf8.count)
        #expect(source.description == "[2001:db8::7]:50000")
        // UNKNOWN: the rest of the line is ignored, and the peer stands.
        let unknown = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"
        #expect(parse(unknown) == .header(length: unknown.utf8.count, source: nil))
        #expect(parse("PROXY UNKNOWN\r\n") == .header(length: 15, source: nil))
    }

    /// The worst case of the specification is 107 bytes; one more and it is refused.
    @Test func version1IsBoundedAt107Bytes() {
        let longest = "PROXY UNKNOWN " + String(repeating: "f", count: 91) + "\r\n"
        #expect(longest.utf8.count == 107)
        #expect(parse(longest) == .header(length: 107, source: nil))
        #expect(parse("PROXY UNKNOWN " + String(repeating: "f", count: 92) + "\r\n") == .invalid(.badLine))
        #expect(parse("PROXY UNKNOWN " + String(repeating: "f", count: 200)) == .invalid(.badLine))
    }

    @Test(arguments: [
        "PROXY TCP4 192.0.2.7 10.0.0.1 50000 443\n",          // LF without CR
        "PROXY TCP4 192.0.2.7 10.0.0.1 50000 443 \r\n",       // trailing space
        "PROXY TCP4  192.0.2.7 10.0.0.1 50000 443\r\n",       // two spaces
        "PROXY TCP4 192.0.2.7 10.0.0.1 50000\r\n",            // a port missing
        "PROXY TCP4 192.0.2.7 10.0.0.1 50000 443 1\r\n",      // a field too many
        "PROXY TCP4 192.0.2.07 10.0.0.1 50000 443\r\n",       // a leading zero
        "PROXY TCP4 192.0.2.256 10.0.0.1 50000 443\r\n",      // an octet too large
        "PROXY TCP4 2001:db8::7 10.0.0.1 50000 443\r\n",      // IPv6 under TCP4
        "PROXY TCP6 192.0.2.7 10.0.0.1 50000 443\r\n",        // IPv4 under TCP6
        "PROXY TCP4 192.0.2.7 10.0.0.1 65536 443\r\n",        // a port too large
        "PROXY TCP4 192.0.2.7 10.0.0.1 050000 443\r\n",       // a port with a leading zero
        "PROXY TCP4 192.0.2.7 10.0.0.1 +5000 443\r\n",        // a signed port
        "PROXY UDP4 192.0.2.7 10.0.0.1 50000 443\r\n",        // not TCP
        "PROXY tcp4 192.0.2.7 10.0.0.1 50000 443\r\n",        // lower case
        "PROXY TCP4 192.0.2.7\t10.0.0.1 50000 443\r\n",       // a tab
        "PROXY TCP4 192.0.2.7 10.0.0.1 50000 443\r\r\n",      // a CR inside
        "PROXY \r\n",
    ])
    func malformedVersion1LinesAreRefused(line: String) {
        #expect(parse(line) == .invalid(.badLine), "\(line.debugDescription)")
    }

    /// Anything but a header is refused on its first byte that cannot belong to one: a
    /// plain HTTP request on a PROXY listener is closed at once, not after a timeout.
    @Test func notAHeaderIsRefusedAsSoonAsItShows() {
        #expect(parse("GET / HTTP/1.1\r\n") == .invalid(.notProxy))
        #expect(parse("G") == .invalid(.notProxy))
        #expect(parse("PRI * HTTP/2.0\r\n") == .invalid(.notProxy))
        #expect(parse("POST") == .invalid(.notProxy))
        #expect(parse([0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B]) == .invalid(.notProxy))
        #expect(parse([0x0D, 0x0A, 0x0D, 0x0A, 0x01]) == .invalid(.notProxy))
        #expect(parse([]) == .needMore)
    }

    /// Every proper prefix of a valid header asks for more; the whole answers.
    @Test func everyPrefixOfAValidHeaderNeedsMore() {
        let headers: [[UInt8]] = [
            Array("PROXY TCP4 192.0.2.7 10.0.0.1 50000 443\r\n".utf8),
            Array("PROXY TCP6 ::1 ::1 1 2\r\n".utf8),
            Self.v2(familyTransport: 0x11, block: Self.v4Block, tlvs: [0x04, 0x00, 0x02, 0xAA, 0xBB]),
            Self.v2(command: 0, familyTransport: 0x00, block: []),
        ]
        for header in headers {
            for n in 0..<header.count {
                #expect(parse(Array(header[0..<n])) == .needMore, "prefix \(n) of \(header)")
            }
            guard case .header(let length, _) = parse(header + Array("GET".utf8)) else {
                Issue.record("\(header) did not parse")
                continue
            }
            #expect(length == header.count)
        }
    }

    @Test func version2ProxyInet() {
        let header = Self.v2(familyTransport: 0x11, block: Self.v4Block)
        #expect(parse(header) == .header(length: 28, source: ClientAddress(ipv4: 192, 0, 2, 7, port: 50000)))
    }

    @Test func version2ProxyInet6() {
        var block = [UInt8](repeating: 0, count: 36)
        block[0] = 0x20; block[1] = 0x01; block[2] = 0x0D; block[3] = 0xB8; block[15] = 7  // 2001:db8::7
        block[16] = 0x20; block[17] = 0x01; block[31] = 1
        block[32] = 0x01; block[33] = 0xBB; block[34] = 0x00; block[35] = 0x50
        guard case .header(let length, let source?) = parse(Self.v2(familyTransport: 0x21, block: block)) else {
            Issue.record("not a header")
            return
        }
        #expect(length == 52)
        #expect(source.description == "[2001:db8::7]:443")
    }

    /// LOCAL (a balancer's own health check), UNSPEC and UNIX name no client: the peer
    /// stands, and the rest of a LOCAL or UNSPEC block is discarded unread.
    @Test func version2LocalUnspecAndUnixNameNoClient() {
        #expect(parse(Self.v2(command: 0, familyTransport: 0x00, block: [])) == .header(length: 16, source: nil))
        #expect(parse(Self.v2(command: 0, familyTransport: 0x11, block: Self.v4Block)) == .header(length: 28, source: nil))
        #expect(parse(Self.v2(familyTransport: 0x00, block: [1, 2, 3])) == .header(length: 19, source: nil))
        #expect(parse(Self.v2(familyTransport: 0x31, block: [UInt8](repeating: 0x2F, count: 216))) == .header(length: 232, source: nil))
    }

    /// TLVs are walked and skipped; one that runs past the header is refused.
    @Test func version2TLVsAreSkippedAndChecked() {
        let tlvs: [UInt8] = [0x01, 0x00, 0x02, 0x68, 0x32,  // ALPN "h2"
                             0x05, 0x00, 0x00,              // UNIQUE_ID, empty
                             0x20, 0x00, 0x01, 0x00]        // SSL, one byte
        #expect(parse(Self.v2(familyTransport: 0x11, block: Self.v4Block, tlvs: tlvs))
                == .header(length: 28 + tlvs.count, source: ClientAddress(ipv4: 192, 0, 2, 7, port: 50000)))
        // A value longer than what is left, and a TLV cut inside its own head.
        #expect(parse(Self.v2(familyTransport: 0x11, block: Self.v4Block, tlvs: [0x01, 0x00, 0x05, 0x68])) == .invalid(.badBinary))
        #expect(parse(Self.v2(familyTransport: 0x11, block: Self.v4Block, tlvs: [0x01, 0x00])) == .invalid(.badBinary))
        // The address alone is enough for a primary choosing a worker.
        let cut = Self.v2(familyTransport: 0x11, block: Self.v4Block, tlvs: [0x01, 0x00, 0x05, 0x68])
        #expect(parse(Array(cut[0..<28]), addressOnly: true) == .header(length: 32, source: ClientAddress(ipv4: 192, 0, 2, 7, port: 50000)))
    }

    /// The bound holds before the header's bytes come: a declared 64 KiB is refused on
    /// its sixteenth byte.
    @Test func version2IsBounded() {
        let huge = ProxyHeader.v2Signature + [0x21, 0x11, 0xFF, 0xFF]
        #expect(parse(huge) == .invalid(.tooLong))
        let header = Self.v2(familyTransport: 0x11, block: Self.v4Block, tlvs: [UInt8](repeating: 0, count: 3) + [UInt8](repeating: 0, count: 0))
        #expect(parse(header, maxLength: header.count) != .invalid(.tooLong))
        #expect(parse(header, maxLength: header.count - 1) == .invalid(.tooLong))
    }

    @Test(arguments: [
        (0x11 as UInt8, 0x11 as UInt8, 11),  // version 1 in a binary header
        (0x22, 0x11, 12),                    // command 2
        (0x21, 0x41, 12),                    // family 4
        (0x21, 0x13, 12),                    // transport 3
        (0x21, 0x12, 12),                    // DGRAM: not a TCP client
        (0x21, 0x11, 11),                    // INET with an 11-byte block
        (0x21, 0x21, 12),                    // INET6 with a 12-byte block
    ])
    func malformedVersion2HeadersAreRefused(versionCommand: UInt8, familyTransport: UInt8, blockLength: Int) {
        let header = ProxyHeader.v2Signature + [versionCommand, familyTransport, 0, UInt8(blockLength)]
            + [UInt8](repeating: 1, count: blockLength)
        #expect(parse(header) == .invalid(.badBinary))
    }

    // MARK: - In the lifecycle

    func proxySettings() -> ConnectionLifecycle.Settings {
        var s = ConnectionLifecycle.Settings(lingerNanoseconds: 500, sendStallNanoseconds: 2_000)
        s.expectsProxyHeader = true
        return s
    }

    @Test func theHeaderIsTakenOffAndTheRequestAfterItAnswered() {
        let d = LifecycleDriver(settings: proxySettings())
        d.deliver("PROXY TCP4 192.0.2.7 10.0.0.1 50000 443\r\n" + get("/a", id: 1) + get("/b", id: 2))
        d.settle()
        #expect(d.proxiedSources == [ClientAddress(ipv4: 192, 0, 2, 7, port: 50000)])
        #expect(d.answered == ["/a id=1", "/b id=2"])
        #expect(d.violations.isEmpty, "\(d.violations)")
    }

    /// A header split across reads, byte by byte, and a request in the same read as its end.
    @Test func aHeaderInPiecesWaitsForItsEnd() {
        let d = LifecycleDriver(settings: proxySettings())
        let header = Self.v2(familyTransport: 0x11, block: Self.v4Block, tlvs: [0x05, 0x00, 0x01, 0x41])
        for b in header.dropLast() {
            d.deliver([b])
            #expect(d.proxiedSources.isEmpty && d.proxyRefusals.isEmpty)
        }
        d.deliver([header.last!] + Array(get("/a", id: 1).utf8))
        d.settle()
        #expect(d.proxiedSources == [ClientAddress(ipv4: 192, 0, 2, 7, port: 50000)])
        #expect(d.answered == ["/a id=1"])
        #expect(d.violations.isEmpty, "\(d.violations)")
    }

    /// No header: closed, nothing written back, nothing of it parsed.
    @Test func aRequestWithoutAHeaderIsClosedUnanswered() {
        let d = LifecycleDriver(settings: proxySettings())
        d.deliver(get("/a", id: 1))
        d.settle()
        #expect(d.proxyRefusals == [.notProxy])
        #expect(d.wire.isEmpty)
        #expect(d.released == 1)
        #expect(!d.actions.contains("dispatch"))
        #expect(d.violations.isEmpty, "\(d.violations)")
    }

    /// A header that never ends is refused at the header timeout, silently.
    @Test func aHeaderThatNeverEndsTimesOut() {
        let d = LifecycleDriver(settings: proxySettings())
        d.deliver("PROXY TCP4 192.0.2.7")
        d.tick(at: TestConnection.timeouts.headerNanoseconds + 1)
        d.settle()
        #expect(d.proxyRefusals == [.timedOut])
        #expect(d.wire.isEmpty)
        #expect(d.released == 1)
        #expect(d.violations.isEmpty, "\(d.violations)")
    }

    /// The loop refuses a peer outside --proxy-from before any byte is parsed.
    @Test func anUntrustedPeerIsRefusedBeforeItsBytes() {
        let d = LifecycleDriver(settings: proxySettings())
        d.life.pointee.refuseProxy(.untrusted)
        d.run()
        d.deliver("PROXY TCP4 192.0.2.7 10.0.0.1 50000 443\r\n" + get("/a", id: 1))
        d.settle()
        #expect(d.proxyRefusals == [.untrusted])
        #expect(d.proxiedSources.isEmpty)
        #expect(d.wire.isEmpty)
        #expect(d.violations.isEmpty, "\(d.violations)")
    }

    /// Without the setting, a PROXY line is just a bad request line (400).
    @Test func withoutTheSettingAHeaderIsABadRequest() {
        let d = LifecycleDriver()
        d.deliver("PROXY TCP4 192.0.2.7 10.0.0.1 50000 443\r\n" + get("/a", id: 1))
        d.settle()
        #expect(d.proxiedSources.isEmpty)
        #expect(d.answered.first == "400")
    }
}

@Suite struct AddressRangeTests {
    @Test func blocksHoldTheirAddresses() throws {
        let ten = try #require(AddressRange("10.0.0.0/8"))
        #expect(ten.contains(ClientAddress(ipv4: 10, 200, 3, 4, port: 1)))
        #expect(!ten.contains(ClientAddress(ipv4: 11, 0, 0, 1, port: 1)))
        // The mapped form of a dual-stack listener's IPv4 client.
        #expect(ten.contains(try #require(ClientAddress(literal: "::ffff:10.1.2.3", port: 1))))
        #expect(!ten.contains(try #require(ClientAddress(literal: "::10.1.2.3", port: 1))))
        let odd = try #require(AddressRange("192.168.5.130/25"))
        #expect(odd.description == "192.168.5.128/25")
        #expect(odd.contains(ClientAddress(ipv4: 192, 168, 5, 255, port: 1)))
        #expect(!odd.contains(ClientAddress(ipv4: 192, 168, 5, 127, port: 1)))
        let one = try #require(AddressRange("192.0.2.7"))
        #expect(one.prefixLength == 32 && one.contains(ClientAddress(ipv4: 192, 0, 2, 7, port: 9)))
        #expect(!one.contains(ClientAddress(ipv4: 192, 0, 2, 8, port: 9)))
        let any = try #require(AddressRange("0.0.0.0/0"))
        #expect(any.contains(ClientAddress(ipv4: 1, 2, 3, 4, port: 1)))
        let v6 = try #require(AddressRange("2001:db8::/33"))
        #expect(v6.contains(try #require(ClientAddress(literal: "2001:db8:7fff::1", port: 1))))
        #expect(!v6.contains(try #require(ClientAddress(literal: "2001:db8:8000::1", port: 1))))
        #expect(!v6.contains(ClientAddress(ipv4: 32, 1, 13, 184, port: 1)))
    }

    @Test(arguments: ["", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/-1", "10.0.0.0/+8",
                      "10.0.0.0/8/8", "example.com", "10.0.0.0/ 8", "::1/1x"])
    func malformedBlocksAreRefused(text: String) {
        #expect(AddressRange(text) == nil, "\(text)")
    }

    @Test func listsAreCommaSeparated() {
        #expect(AddressRange.list("10.0.0.0/8,::1")?.map(\.description) == ["10.0.0.0/8", "::1/128"])
        #expect(AddressRange.list("10.0.0.0/8,") == nil)
        #expect(AddressRange.list("") == nil)
    }
}
