import Glibc
import Testing
@testable import HTTP1

@Suite struct ClientAddressTests {
    static func v6(_ groups: [UInt16]) -> ClientAddress {
        ClientAddress(ipv6: groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }, port: 443)!
    }

    @Test func ipv4ReadsAsDottedWithItsPort() {
        let a = ClientAddress(ipv4: 127, 0, 0, 1, port: 54321)
        #expect(a.host == "127.0.0.1")
        #expect(a.description == "127.0.0.1:54321")
        #expect(a.addressBytes == [127, 0, 0, 1])
    }

    /// RFC 5952 §4: lower case, no leading zeros, the longest zero run (two groups or
    /// more; the first of equal runs) as `::`, and IPv4-mapped addresses dotted.
    @Test(arguments: [
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], "2001:db8::1"),
        ([0, 0, 0, 0, 0, 0, 0, 1], "::1"),
        ([0, 0, 0, 0, 0, 0, 0, 0], "::"),
        ([1, 0, 0, 0, 0, 0, 0, 0], "1::"),
        ([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], "2001:db8:0:1:1:1:1:1"),
        ([0x2001, 0, 0, 1, 0, 0, 0, 1], "2001:0:0:1::1"),
        ([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"),
        ([0xFE80, 0, 0, 0, 0x0ABC, 0xDEF0, 0x1234, 0x00FF], "fe80::abc:def0:1234:ff"),
        ([0, 0, 0, 0, 0, 0xFFFF, 0xC000, 0x0201], "::ffff:192.0.2.1"),
    ] as [([UInt16], String)])
    func ipv6ReadsInItsCanonicalForm(groups: [UInt16], text: String) {
        let a = Self.v6(groups)
        #expect(a.host == text)
        #expect(a.description == "[\(text)]:443")
    }

    @Test func aSockaddrDecodesByFamily() {
        var v4 = sockaddr_in()
        v4.sin_family = sa_family_t(AF_INET)
        v4.sin_port = UInt16(8080).bigEndian
        v4.sin_addr.s_addr = UInt32(0x0A00_0102).bigEndian  // 10.0.1.2
        let a = withUnsafeBytes(of: v4) { ClientAddress(sockaddr: $0) }
        #expect(a == ClientAddress(ipv4: 10, 0, 1, 2, port: 8080))

        var v6 = sockaddr_in6()
        v6.sin6_family = sa_family_t(AF_INET6)
        v6.sin6_port = UInt16(9).bigEndian
        v6.sin6_flowinfo = 0xFFFF_FFFF  // not part of the address
        withUnsafeMutableBytes(of: &v6.sin6_addr) { $0[15] = 1 }
        let b = withUnsafeBytes(of: v6) { ClientAddress(sockaddr: $0) }
        #expect(b?.description == "[::1]:9")
    }

    @Test func otherFamiliesAndShortAddressesAreNoAddress() {
        var unix = sockaddr_un()
        unix.sun_family = sa_family_t(AF_UNIX)
        #expect(withUnsafeBytes(of: unix) { ClientAddress(sockaddr: $0) } == nil)
        var v6 = sockaddr_in6()
        v6.sin6_family = sa_family_t(AF_INET6)
        // A sockaddr_in6 cut to a sockaddr_in's 16 bytes: the address is not all there.
        #expect(withUnsafeBytes(of: v6) { ClientAddress(sockaddr: UnsafeRawBufferPointer(rebasing: $0[0..<16])) } == nil)
        #expect(ClientAddress(sockaddr: UnsafeRawBufferPointer(start: nil, count: 0)) == nil)
        // The family but not the whole port (it read bytes 2 and 3 regardless).
        var v4 = sockaddr_in()
        v4.sin_family = sa_family_t(AF_INET)
        for short in [2, 3] {
            #expect(withUnsafeBytes(of: v4) { ClientAddress(sockaddr: UnsafeRawBufferPointer(rebasing: $0[0..<short])) } == nil)
        }
        #expect(ClientAddress(ipv6: [1, 2, 3], port: 1) == nil)
    }

    /// A connection asks for its client's address first, before it reads; asked again when
    /// the loop says so, but not once it is closing; counted as an operation in flight, so
    /// the slot is not released under it.
    @Test func theLifecycleAsksForThePeerFirstAndCountsIt() {
        let scratch = UnsafeMutableBufferPointer<HeaderField>.allocate(capacity: 65)
        scratch.initialize(repeating: HeaderField(name: .empty, value: .empty))
        let date = UnsafeMutableRawPointer.allocate(byteCount: HTTPDate.length, alignment: 8)
        defer { scratch.deallocate(); date.deallocate() }
        HTTPDate.format(epochSeconds: 0, into: date)
        var life = ConnectionLifecycle(settings: .init(asksPeerName: true), limits: HTTPLimits(),
                                       timeouts: HTTPTimeouts(), scratch: scratch, date: date)
        life.start(now: 0)
        #expect(life.next(now: 0) == .askPeerName)
        #expect(life.next(now: 0) == .armReceive)
        #expect(life.next(now: 0) == .none)
        #expect(life.operationsInFlight == 2)
        life.peerNameCompleted(again: true)
        #expect(life.next(now: 0) == .askPeerName)
        #expect(life.next(now: 0) == .none)
        life.peerNameCompleted(again: false)
        #expect(life.operationsInFlight == 1)
        #expect(life.next(now: 0) == .none)

        // A request read while the address is asked again (an IPv6 peer's second ask) waits
        // for it: no handler sees a request without its client.
        var again = ConnectionLifecycle(settings: .init(asksPeerName: true), limits: HTTPLimits(),
                                        timeouts: HTTPTimeouts(), scratch: scratch, date: date)
        again.start(now: 0)
        #expect(again.next(now: 0) == .askPeerName)
        #expect(again.next(now: 0) == .armReceive)
        again.peerNameCompleted(again: true)
        #expect(again.next(now: 0) == .askPeerName)
        let request = Array("GET / HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        request.withUnsafeBytes { again.received(.bytes($0), final: false) }
        #expect(again.next(now: 0) == .none, "not dispatched while the ask is in flight")
        again.peerNameCompleted(again: false)
        guard case .dispatch = again.next(now: 0) else {
            Issue.record("dispatched once the address is known")
            return
        }

        // Without the setting, the first action is the read.
        var plain = ConnectionLifecycle(settings: .init(), limits: HTTPLimits(), timeouts: HTTPTimeouts(),
                                        scratch: scratch, date: date)
        plain.start(now: 0)
        #expect(plain.next(now: 0) == .armReceive)
    }
}
