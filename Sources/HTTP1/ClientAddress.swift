/// The address of a connection's client: what the kernel says of the peer (getsockopt
/// SO_PEERNAME, asked through the ring when the connection starts), or later what a load
/// balancer in front says of the real client. A value of 20 bytes, copied into each
/// request; formatting it (`host`, `description`) is done only when asked.
public struct ClientAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: UInt8, Sendable {
        case ipv4
        case ipv6
    }

    public let family: Family
    public let port: UInt16
    /// The address in network order: the first 4 bytes for IPv4, all 16 for IPv6.
    let bytes: (UInt64, UInt64)

    /// From the bytes of a `sockaddr_in` or `sockaddr_in6` (Linux's layout: the family in
    /// host order, then the port and the address in network order); nil for any other
    /// family or a short address.
    public init?(sockaddr raw: UnsafeRawBufferPointer) {
        guard raw.count >= 4 else { return nil }
        let family = raw.loadUnaligned(as: UInt16.self)
        let port = UInt16(raw[2]) << 8 | UInt16(raw[3])
        switch family {
        case 2 where raw.count >= 8:  // AF_INET: port at 2, address at 4
            var b: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &b) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[4..<8])) }
            self.init(family: .ipv4, port: port, bytes: b)
        case 10 where raw.count >= 24:  // AF_INET6: port at 2, flow info at 4, address at 8
            var b: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &b) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[8..<24])) }
            self.init(family: .ipv6, port: port, bytes: b)
        default:
            return nil
        }
    }

    /// IPv4 from its four bytes, in order (`127, 0, 0, 1`).
    public init(ipv4 a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) {
        var raw: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &raw) { $0[0] = a; $0[1] = b; $0[2] = c; $0[3] = d }
        self.init(family: .ipv4, port: port, bytes: raw)
    }

    /// IPv6 from its sixteen bytes, in network order; nil unless there are sixteen.
    public init?(ipv6 address: [UInt8], port: UInt16) {
        guard address.count == 16 else { return nil }
        var raw: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: address) }
        self.init(family: .ipv6, port: port, bytes: raw)
    }

    init(family: Family, port: UInt16, bytes: (UInt64, UInt64)) {
        self.family = family
        self.port = port
        self.bytes = bytes
    }

    /// The address's bytes in network order (4 or 16).
    public var addressBytes: [UInt8] {
        withUnsafeBytes(of: bytes) { Array($0.prefix(family == .ipv4 ? 4 : 16)) }
    }

    /// The address as text: dotted IPv4, or IPv6 in RFC 5952's canonical form (lower-case
    /// hex, no leading zeros, the longest run of two or more zero groups as `::`, the first
    /// of equal runs; an IPv4-mapped address ends in dotted form: `::ffff:192.0.2.1`).
    public var host: String {
        let b = addressBytes
        if family == .ipv4 { return Self.dotted(b[0..<4]) }
        let groups = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xFFFF {
            return "::ffff:" + Self.dotted(b[12..<16])
        }
        // The longest run of zero groups, at least two long.
        var best = (start: -1, count: 1)
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else { i += 1; continue }
            var j = i
            while j < 8 && groups[j] == 0 { j += 1 }
            if j - i > best.count { best = (i, j - i) }
            i = j
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard best.start >= 0 else { return hex(0..<8) }
        return hex(0..<best.start) + "::" + hex((best.start + best.count)..<8)
    }

    /// `host:port`, with an IPv6 host in brackets (`[::1]:8080`), as in a URL's authority.
    public var description: String {
        family == .ipv4 ? "\(host):\(port)" : "[\(host)]:\(port)"
    }

    static func dotted(_ b: ArraySlice<UInt8>) -> String {
        b.map { String($0) }.joined(separator: ".")
    }

    public static func == (a: ClientAddress, b: ClientAddress) -> Bool {
        a.family == b.family && a.port == b.port && a.bytes == b.bytes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(family)
        hasher.combine(port)
        hasher.combine(bytes.0)
        hasher.combine(bytes.1)
    }
}
