import Glibc

// libFuzzer target: the PROXY protocol header parser (built by `make fuzz` with the HTTP1
// sources). The first input byte sets the bound on a version 2 header (16 to 4096); the
// rest is what a balancer, or anyone reaching a PROXY listener, sends. Invariants:
// - a header's length is within the bytes given, within the bound (107 for version 1),
//   and at least the version's fixed part;
// - the bytes up to a header's end parse to the same header, whatever follows it, and
//   every shorter prefix asks for more: an answer never depends on bytes after the header,
//   and a header is never taken before it is whole;
// - the address-only parse (a primary's peek) names the same client and length as the
//   whole parse;
// - a refusal stays a refusal as bytes are added;
// - the same input parses the same way twice.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProxy(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bound = 16 + Int(data[0]) * 16
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let whole = ProxyHeader.parse(bytes, maxLength: bound)
    check(whole == ProxyHeader.parse(bytes, maxLength: bound), "two parses differ")
    switch whole {
    case .header(let length, let source):
        check(length <= bytes.count, "a header longer than its bytes")
        if bytes[0] == UInt8(ascii: "P") {
            check(length <= ProxyHeader.v1MaxLength && length >= 15, "a version 1 header of \(length) bytes")
        } else {
            check(length >= ProxyHeader.v2FixedLength && length <= max(16, bound), "a version 2 header of \(length) bytes")
        }
        let exact = UnsafeRawBufferPointer(rebasing: bytes[0..<length])
        check(ProxyHeader.parse(exact, maxLength: bound) == whole, "the header depends on what follows it")
        for cut in [0, length / 2, length - 1] where cut < length {
            let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<cut])
            check(ProxyHeader.parse(prefix, maxLength: bound) == .needMore, "a prefix of \(cut) bytes did not ask for more")
        }
        if case .header(let l, let s) = ProxyHeader.parse(bytes, maxLength: bound, addressOnly: true) {
            check(l == length && s == source, "the address-only parse disagrees")
        } else {
            check(false, "the address-only parse refused a valid header")
        }
    case .invalid:
        // Refused now: more bytes cannot save it.
        var longer = Array(bytes)
        longer.append(contentsOf: [0x0D, 0x0A, 0x47])
        let again = longer.withUnsafeBytes { ProxyHeader.parse($0, maxLength: bound) }
        if case .invalid = again {} else { check(false, "a refusal became \(again) with more bytes") }
    case .needMore:
        break
    }
    return 0
}

func check(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok {
        print("invariant broken: \(what())")
        abort()
    }
}
