import Glibc

// The PROXY protocol's header (HAProxy's specification, versions 1 and 2): what a load
// balancer in front writes before the client's first byte, to say who the client is.
//
// A pure parser over the bytes received so far. It answers as early as it can: a first byte
// that begins neither version is refused at once (a plain HTTP request on a PROXY listener
// does not wait for a timeout), and so is any byte a well-formed header cannot have at its
// place. Nothing is allocated; IP literals of version 1 are read with inet_pton on a
// stack copy (no system call).
//
// Bounds: version 1 is at most 107 bytes with its CRLF (the specification's own bound).
// Version 2 declares its length (up to 16 + 65535); a header longer than `maxLength` is
// refused before any more of it is read, so a balancer cannot make a connection hold more
// than that. Its TLVs (type, 16-bit length, value) are walked, each one checked to end
// inside the header, and skipped: none of them changes who the client is.

public enum ProxyHeader {
    public enum Parsed: Equatable, Sendable {
        /// Every byte so far fits a header: read more.
        case needMore
        /// Not a PROXY header, or a malformed one: the connection must be closed.
        case invalid(Refusal)
        /// A complete header of `length` bytes. `source`: the client, or nil when the header
        /// names none (v2 LOCAL, a balancer's own health check; v1 UNKNOWN; v2 UNSPEC or
        /// UNIX): the connection's own peer is then the client.
        case header(length: Int, source: ClientAddress?)
    }

    /// Why a header was refused (for the log; every one closes the connection).
    public enum Refusal: UInt8, Equatable, Sendable {
        /// The bytes begin neither version's signature.
        case notProxy
        /// A version 1 line that breaks its grammar, or runs past 107 bytes.
        case badLine
        /// A version 2 header with an unknown version, command, family or transport, an
        /// address block too short for its family, or a TLV that runs past the header.
        case badBinary
        /// A version 2 header longer than the bound.
        case tooLong
        /// No complete header within the header timeout (the connection's own rule).
        case timedOut
        /// The peer is not one of the balancers allowed to send a header (`--proxy-from`).
        case untrusted
    }

    /// Version 1's longest header, CRLF included.
    public static let v1MaxLength = 107
    /// Version 2's fixed part: the signature, version and command, family, length.
    public static let v2FixedLength = 16
    /// The default bound on a version 2 header, TLVs included.
    public static let defaultMaxLength = 4096

    static let v1Prefix: [UInt8] = Array("PROXY ".utf8)
    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// Parses the start of a connection's bytes.
    /// - Parameter addressOnly: answer `.header` as soon as the address is known, before
    ///   the TLVs arrive or are checked (a primary that peeks to choose a worker; the worker
    ///   reads the whole header again).
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxLength: Int = defaultMaxLength,
                             addressOnly: Bool = false) -> Parsed {
        guard let first = bytes.first else { return .needMore }
        if first == UInt8(ascii: "P") { return parseV1(bytes) }
        if first == 0x0D { return parseV2(bytes, maxLength: max(v2FixedLength, maxLength), addressOnly: addressOnly) }
        return .invalid(.notProxy)
    }

    /// Whether `bytes` begins with what is there of `prefix`; true while it is shorter.
    static func matchesPrefix(_ bytes: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        for i in 0..<min(bytes.count, prefix.count) where bytes[i] != prefix[i] { return false }
        return true
    }

    // MARK: - Version 1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n"

    static func parseV1(_ bytes: UnsafeRawBufferPointer) -> Parsed {
        guard matchesPrefix(bytes, v1Prefix) else { return .invalid(.notProxy) }
        // The line ends at the first LF, which must follow a CR.
        var end = -1
        for i in 0..<min(bytes.count, v1MaxLength) {
            let b = bytes[i]
            if b == 0x0A { end = i; break }
            // Only printable ASCII and the CR before the LF belong in a line.
            if b == 0x0D { if i + 1 < bytes.count && bytes[i + 1] != 0x0A { return .invalid(.badLine) } } else if b < 0x20 || b > 0x7E { return .invalid(.badLine) }
        }
        if end < 0 { return bytes.count >= v1MaxLength ? .invalid(.badLine) : .needMore }
        guard end >= 1, bytes[end - 1] == 0x0D else { return .invalid(.badLine) }
        let line = UnsafeRawBufferPointer(rebasing: bytes[v1Prefix.count..<(end - 1)])
        var fields = V1Fields(line)
        guard let proto = fields.next() else { return .invalid(.badLine) }
        if equals(proto, "UNKNOWN") {
            // The rest of the line is to be ignored.
            return .header(length: end + 1, source: nil)
        }
        let family: ClientAddress.Family
        if equals(proto, "TCP4") { family = .ipv4 } else if equals(proto, "TCP6") { family = .ipv6 } else { return .invalid(.badLine) }
        guard let source = fields.next(), let destination = fields.next(),
              let sourcePort = fields.next().flatMap(port), let destinationPort = fields.next().flatMap(port),
              fields.isAtEnd,
              let client = address(source, family, port: sourcePort),
              address(destination, family, port: destinationPort) != nil
        else { return .invalid(.badLine) }
        return .header(length: end + 1, source: client)
    }

    /// Fields separated by exactly one space each.
    struct V1Fields {
        let line: UnsafeRawBufferPointer
        var at = 0
        var broken = false
        init(_ line: UnsafeRawBufferPointer) { self.line = line }

        mutating func next() -> UnsafeRawBufferPointer? {
            guard !broken, at <= line.count else { return nil }
            var j = at
            while j < line.count && line[j] != 0x20 { j += 1 }
            guard j > at else { broken = true; return nil }
            let field = UnsafeRawBufferPointer(rebasing: line[at..<j])
            at = j + 1  // past the space, or past the end when there was none
            return field
        }

        var isAtEnd: Bool { !broken && at == line.count + 1 }
    }

    static func equals(_ field: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        field.count == word.utf8CodeUnitCount && memcmp(field.baseAddress!, word.utf8Start, field.count) == 0
    }

    /// A decimal port, 0...65535, without a sign or a leading zero.
    static func port(_ field: UnsafeRawBufferPointer) -> UInt16? {
        guard (1...5).contains(field.count), field[0] != UInt8(ascii: "0") || field.count == 1 else { return nil }
        var value = 0
        for b in field {
            guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(b - UInt8(ascii: "0"))
        }
        return value <= 65535 ? UInt16(value) : nil
    }

    /// An IP literal of the family (inet_pton's grammar: IPv4 without leading zeros).
    static func address(_ field: UnsafeRawBufferPointer, _ family: ClientAddress.Family, port: UInt16) -> ClientAddress? {
        guard field.count <= 45 else { return nil }  // the longest IPv6 text form
        var text: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &text) { t -> ClientAddress? in
            t.copyMemory(from: field)  // NUL-terminated: the tuple is 48 zeroed bytes
            var raw: (UInt64, UInt64) = (0, 0)
            let ok = withUnsafeMutableBytes(of: &raw) { r in
                inet_pton(family == .ipv4 ? AF_INET : AF_INET6, t.baseAddress!.assumingMemoryBound(to: CChar.self), r.baseAddress!)
            }
            return ok == 1 ? ClientAddress(family: family, port: port, bytes: raw) : nil
        }
    }

    // MARK: - Version 2: a 16-byte binary head, an address block, TLVs

    static func parseV2(_ bytes: UnsafeRawBufferPointer, maxLength: Int, addressOnly: Bool) -> Parsed {
        guard matchesPrefix(bytes, v2Signature) else { return .invalid(.notProxy) }
        if bytes.count > 12 {
            let versionCommand = bytes[12]
            // Version 2; command LOCAL (0) or PROXY (1).
            guard versionCommand >> 4 == 2, versionCommand & 0x0F <= 1 else { return .invalid(.badBinary) }
        }
        if bytes.count > 13 {
            let family = bytes[13] >> 4, transport = bytes[13] & 0x0F
            guard family <= 3, transport <= 2 else { return .invalid(.badBinary) }
        }
        guard bytes.count >= v2FixedLength else { return .needMore }
        let isProxy = bytes[12] & 0x0F == 1
        let family = bytes[13] >> 4, transport = bytes[13] & 0x0F
        let declared = Int(bytes[14]) << 8 | Int(bytes[15])
        let length = v2FixedLength + declared
        guard length <= maxLength else { return .invalid(.tooLong) }
        // The address block of each family: INET 12 bytes, INET6 36, UNIX 216.
        let addressLength = [0, 12, 36, 216][Int(family)]
        guard declared >= addressLength else { return .invalid(.badBinary) }
        var source: ClientAddress? = nil
        // Only an INET or INET6 PROXY header names a client: for any other, the address-only
        // answer needs no more than the fixed part.
        if addressOnly && !(isProxy && (family == 1 || family == 2)) {
            return .header(length: length, source: nil)
        }
        if isProxy && (family == 1 || family == 2) {
            // A TCP server takes TCP (STREAM) clients; a datagram source is not one.
            guard transport == 1 else { return .invalid(.badBinary) }
            guard bytes.count >= v2FixedLength + addressLength else { return .needMore }
            let block = UnsafeRawBufferPointer(rebasing: bytes[v2FixedLength..<(v2FixedLength + addressLength)])
            var raw: (UInt64, UInt64) = (0, 0)
            let size = family == 1 ? 4 : 16
            withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: block[0..<size])) }
            // Source address, destination address, source port, destination port.
            let port = UInt16(block[2 * size]) << 8 | UInt16(block[2 * size + 1])
            source = ClientAddress(family: family == 1 ? .ipv4 : .ipv6, port: port, bytes: raw)
            if addressOnly { return .header(length: length, source: source) }
        }
        guard bytes.count >= length else { return .needMore }
        // LOCAL and UNSPEC blocks are to be discarded whole, by the specification; a PROXY
        // header's TLVs follow its address block.
        if isProxy && family != 0,
           !validTLVs(UnsafeRawBufferPointer(rebasing: bytes[(v2FixedLength + addressLength)..<length])) {
            return .invalid(.badBinary)
        }
        // LOCAL, UNSPEC and UNIX name no client the server can use: the peer stands.
        return .header(length: length, source: isProxy ? source : nil)
    }

    /// Every TLV ends inside the header, and the last one at its end.
    static func validTLVs(_ tlvs: UnsafeRawBufferPointer) -> Bool {
        var at = 0
        while at < tlvs.count {
            guard tlvs.count - at >= 3 else { return false }
            let length = Int(tlvs[at + 1]) << 8 | Int(tlvs[at + 2])
            guard tlvs.count - at - 3 >= length else { return false }
            at += 3 + length
        }
        return true
    }
}
