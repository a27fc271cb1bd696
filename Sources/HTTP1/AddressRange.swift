import Glibc

/// A block of addresses in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address:
/// `192.0.2.7`), for the peers a server trusts (`--proxy-from`). An IPv4 block also holds
/// the IPv4-mapped IPv6 form of its addresses (`::ffff:10.1.2.3`): that is how a client
/// of a dual-stack (`::`) listener arrives.
public struct AddressRange: Hashable, Sendable, CustomStringConvertible {
    public let family: ClientAddress.Family
    /// Leading bits that must match: 0...32 for IPv4, 0...128 for IPv6.
    public let prefixLength: Int
    /// The network's bytes in network order (4 or 16 used), host bits cleared.
    let network: ClientAddress

    /// Parses `ADDRESS[/BITS]`; nil for anything else (host bits set are cleared, as
    /// iptables does).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = ClientAddress(literal: String(parts[0]), port: 0) else { return nil }
        let width = address.family == .ipv4 ? 32 : 128
        var bits = width
        if parts.count == 2 {
            // Digits only, as in ip(8): no sign, no spaces.
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber),
                  let n = Int(parts[1]), n <= width else { return nil }
            bits = n
        }
        family = address.family
        prefixLength = bits
        var cleared = address.bytes
        withUnsafeMutableBytes(of: &cleared) { b in
            for i in 0..<16 { b[i] &= Self.mask(byte: i, bits) }
        }
        network = ClientAddress(family: family, port: 0, bytes: cleared)
    }

    /// The mask of byte `i` of an address for a prefix of `bits`.
    @inline(__always)
    static func mask(byte i: Int, _ bits: Int) -> UInt8 {
        let keep = max(0, min(8, bits - 8 * i))
        return keep == 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF00 >> keep)
    }

    /// Whether the address is in the block. No allocation: it runs once per connection.
    public func contains(_ address: ClientAddress) -> Bool {
        withUnsafeBytes(of: address.bytes) { a in
            withUnsafeBytes(of: network.bytes) { n in
                var offset = 0
                if family == .ipv4 && address.family == .ipv6 {
                    // ::ffff:a.b.c.d is a.b.c.d.
                    for i in 0..<10 where a[i] != 0 { return false }
                    guard a[10] == 0xFF && a[11] == 0xFF else { return false }
                    offset = 12
                } else if family != address.family {
                    return false
                }
                for i in 0..<(family == .ipv4 ? 4 : 16) where a[offset + i] & Self.mask(byte: i, prefixLength) != n[i] {
                    return false
                }
                return true
            }
        }
    }

    public var description: String { "\(network.host)/\(prefixLength)" }

    /// A comma-separated list (`--proxy-from 10.0.0.0/8,::1`); nil when any item is not a
    /// block. Empty items are refused too: a stray comma is more likely a mistake.
    public static func list(_ text: String) -> [AddressRange]? {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        var ranges: [AddressRange] = []
        for item in items {
            guard let range = AddressRange(String(item)) else { return nil }
            ranges.append(range)
        }
        return ranges.isEmpty ? nil : ranges
    }
}

extension ClientAddress {
    /// An IPv4 or IPv6 literal (inet_pton's grammar), or nil.
    public init?(literal: String, port: UInt16) {
        var raw: (UInt64, UInt64) = (0, 0)
        if literal.utf8.contains(UInt8(ascii: ":")) {
            guard withUnsafeMutableBytes(of: &raw, { inet_pton(AF_INET6, literal, $0.baseAddress!) }) == 1 else { return nil }
            self.init(family: .ipv6, port: port, bytes: raw)
        } else {
            guard withUnsafeMutableBytes(of: &raw, { inet_pton(AF_INET, literal, $0.baseAddress!) }) == 1 else { return nil }
            self.init(family: .ipv4, port: port, bytes: raw)
        }
    }
}
