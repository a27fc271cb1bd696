import Testing
@testable import Cluster

@Suite("ClusterMessage")
struct ClusterMessageTests {
    static func decode(_ bytes: [UInt8]) -> ClusterMessage? {
        bytes.withUnsafeBytes { ClusterMessage.decode($0) }
    }

    static let sixtyKB: [UInt8] = (0..<(60 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    static let everyCase: [ClusterMessage] = [
        .online,
        .drain(sweep: false),
        .drain(sweep: true),
        .leaving,
        .listen(host: "127.0.0.1", port: 8080),
        .listen(host: "0.0.0.0", port: 0),
        .listen(host: "::1", port: 443),
        .listen(host: "fe80::1:2:3:4", port: 65535),
        .listen(host: "", port: 3000),
        .listening(port: 0, ring: -1),
        .listening(port: 54321, ring: 7),
        .refused(position: 0, count: 7),
        .refused(position: 5_000_000_000, count: 0x0102_0304),
        .refused(position: UInt64.max, count: UInt32.max),
        .listenReply(port: 8080, errno: 0),
        .listenReply(port: 0, errno: -98),
        .listenReply(port: 1, errno: -1),
        .listenReply(port: 65535, errno: Int32.min),
        .listenReply(port: 80, errno: Int32.max),
        .handoff(count: 1),
        .handoff(count: 253),
        .handoff(count: UInt32.max),
        .userFromWorker([]),
        .userFromWorker([0]),
        .userFromWorker(Array("hello".utf8)),
        .userFromPrimary([]),
        .userFromPrimary([0xff, 0x00, 0x81]),
        .request(id: 0, name: "", payload: []),
        .request(id: UInt64.max, name: "NoteRequest", payload: Array(#"{"text":"é"}"#.utf8)),
        .request(id: 1 << 40, name: "ü", payload: [0, 1, 2]),
        .reply(id: 7, outcome: .answered, payload: Array("{}".utf8)),
        .reply(id: UInt64.max, outcome: .noHandler, payload: []),
        .reply(id: 3, outcome: .failed, payload: Array("boom".utf8)),
    ]

    @Test(arguments: everyCase)
    func encodeThenDecodeGivesTheSameMessage(_ message: ClusterMessage) {
        let bytes = message.encoded()
        #expect(bytes.count <= ClusterMessage.maxSize)
        #expect(Self.decode(bytes) == message)
    }

    @Test func sixtyKilobyteUserPayloadsRoundTrip() {
        for message in [ClusterMessage.userFromWorker(Self.sixtyKB), .userFromPrimary(Self.sixtyKB)] {
            let bytes = message.encoded()
            #expect(bytes.count == 60 * 1024 + 1)
            #expect(Self.decode(bytes) == message)
        }
        // The two directions are distinct messages with the same payload.
        #expect(ClusterMessage.userFromWorker(Self.sixtyKB) != .userFromPrimary(Self.sixtyKB))
    }

    @Test func everyCaseIsCoveredByTheRoundTrip() {
        // One representative per case name, so a new case cannot slip past the round trip.
        func name(_ m: ClusterMessage) -> String { String(describing: m).prefix { $0 != "(" }.description }
        let names = Set(Self.everyCase.map(name))
        #expect(names == ["online", "listen", "listening", "refused", "listenReply", "handoff", "drain", "leaving", "userFromWorker", "userFromPrimary", "request", "reply"])
    }

    @Test func wireLayoutIsTagThenLittleEndianIntegers() {
        #expect(ClusterMessage.online.encoded() == [0x01])
        #expect(ClusterMessage.listen(host: "::1", port: 0x1234).encoded() == [0x02, 0x34, 0x12, 0x3a, 0x3a, 0x31])
        #expect(ClusterMessage.listen(host: "", port: 80).encoded() == [0x02, 80, 0])
        #expect(ClusterMessage.listening(port: 0xABCD, ring: 5).encoded() == [0x03, 0xCD, 0xAB, 5, 0, 0, 0])
        #expect(ClusterMessage.refused(position: 0x0000_0001_0000_0002, count: 2).encoded() == [0x05, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0])
        #expect(ClusterMessage.leaving.encoded() == [0x06])
        #expect(ClusterMessage.userFromWorker([9, 8]).encoded() == [0x10, 9, 8])
        #expect(ClusterMessage.listenReply(port: 8080, errno: -98).encoded() == [0x81, 0x90, 0x1f, 0x9e, 0xff, 0xff, 0xff])
        #expect(ClusterMessage.handoff(count: 3).encoded() == [0x82, 3, 0, 0, 0])
        #expect(ClusterMessage.userFromPrimary([]).encoded() == [0x90])
        #expect(ClusterMessage.request(id: 0x0102, name: "ab", payload: [7]).encoded()
                == [0x11, 2, 1, 0, 0, 0, 0, 0, 0, 2, 0, 0x61, 0x62, 7])
        #expect(ClusterMessage.reply(id: 5, outcome: .failed, payload: [9]).encoded() == [0x91, 5, 0, 0, 0, 0, 0, 0, 0, 2, 9])
    }

    @Test func listenHostKeepsNonASCIIBytes() {
        let m = ClusterMessage.listen(host: "hôst-名前", port: 1)
        #expect(Self.decode(m.encoded()) == m)
    }

    @Test func emptyPacketDecodesToNil() {
        #expect(Self.decode([]) == nil)
    }

    @Test func unknownTagsDecodeToNil() {
        let known: Set<UInt8> = [0x01, 0x02, 0x03, 0x05, 0x06, 0x10, 0x11, 0x81, 0x82, 0x83, 0x90, 0x91]
        for tag in UInt8.min...UInt8.max where !known.contains(tag) {
            #expect(Self.decode([tag]) == nil, "tag \(tag)")
            #expect(Self.decode([tag, 1, 2, 3, 4, 5, 6, 7]) == nil, "tag \(tag)")
        }
    }

    @Test(arguments: [
        ClusterMessage.listening(port: 0x1234, ring: 3),
        .refused(position: 0xDEAD_BEEF, count: 12),
        .listenReply(port: 9, errno: -13),
        .handoff(count: 4),
        .drain(sweep: true),
        .reply(id: 1, outcome: .answered, payload: []),
        .request(id: 2, name: "name", payload: []),
    ])
    func truncatedFixedSizeBodiesDecodeToNil(_ message: ClusterMessage) {
        let bytes = message.encoded()
        for length in 1..<bytes.count {
            #expect(Self.decode(Array(bytes.prefix(length))) == nil, "\(message) cut to \(length) bytes")
        }
        #expect(Self.decode(bytes) == message)
    }

    @Test func listenWithoutAWholePortDecodesToNil() {
        #expect(Self.decode([0x02]) == nil)
        #expect(Self.decode([0x02, 0x50]) == nil)
        #expect(Self.decode([0x02, 0x50, 0x00]) == .listen(host: "", port: 80))
    }

    @Test func userPayloadsMayBeEmpty() {
        #expect(Self.decode([0x10]) == .userFromWorker([]))
        #expect(Self.decode([0x90]) == .userFromPrimary([]))
    }

    @Test func decodeReadsASliceOfALargerBuffer() {
        // The channel decodes `n` bytes of a bigger receive buffer.
        var buffer = [UInt8](repeating: 0xEE, count: 64)
        let bytes = ClusterMessage.handoff(count: 17).encoded()
        buffer.replaceSubrange(0..<bytes.count, with: bytes)
        let decoded = buffer.withUnsafeBytes { ClusterMessage.decode(UnsafeRawBufferPointer(rebasing: $0[0..<bytes.count])) }
        #expect(decoded == .handoff(count: 17))
    }

    @Test(arguments: [UInt32(0), 1, 2, 255, 256, 0x00FF_FF00, 0xDEAD_BEEF, UInt32.max])
    func writeHandoffMatchesEncoded(_ count: UInt32) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 32, alignment: 16)
        defer { raw.deallocate() }
        // At every offset, aligned or not.
        for offset in 0..<8 {
            raw.initializeMemory(as: UInt8.self, repeating: 0xAA, count: 32)
            let n = ClusterMessage.writeHandoff(count: count, into: raw + offset)
            #expect(n == 5)
            #expect(Array(UnsafeRawBufferPointer(start: raw + offset, count: n)) == ClusterMessage.handoff(count: count).encoded())
            #expect(raw.load(fromByteOffset: offset + n, as: UInt8.self) == 0xAA, "wrote past its length")
        }
    }

    @Test func maxSizeIs64KiB() {
        #expect(ClusterMessage.maxSize == 65536)
        let largest = ClusterMessage.userFromPrimary([UInt8](repeating: 1, count: ClusterMessage.maxSize - 1))
        #expect(largest.encoded().count == ClusterMessage.maxSize)
        #expect(Self.decode(largest.encoded()) == largest)
    }
}
