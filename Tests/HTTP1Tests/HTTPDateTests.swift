import Glibc
import Testing
@testable import HTTP1

@Suite("HTTPDate")
struct HTTPDateTests {
    static func format(_ seconds: Int) -> String {
        var out = [UInt8](repeating: 0, count: HTTPDate.length)
        out.withUnsafeMutableBytes { HTTPDate.format(epochSeconds: seconds, into: $0.baseAddress!) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The C library's rendering of the same instant, in the C locale.
    static func libc(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return "gmtime_r failed for \(seconds)" }
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test(arguments: [
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (86_399, "Thu, 01 Jan 1970 23:59:59 GMT"),
        (86_400, "Fri, 02 Jan 1970 00:00:00 GMT"),
        (946_684_799, "Fri, 31 Dec 1999 23:59:59 GMT"),
        (2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT"),
        (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),  // 2100 is not a leap year
        (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
    ])
    func knownInstants(_ seconds: Int, _ expected: String) {
        #expect(Self.format(seconds) == expected)
    }

    @Test func writesExactly29Bytes() {
        var out = [UInt8](repeating: 0xAA, count: HTTPDate.length + 8)
        out.withUnsafeMutableBytes { HTTPDate.format(epochSeconds: 784_111_777, into: $0.baseAddress! + 4) }
        #expect(out[0..<4].allSatisfy { $0 == 0xAA })
        #expect(out[(4 + HTTPDate.length)...].allSatisfy { $0 == 0xAA })
        #expect(!out[4..<(4 + HTTPDate.length)].contains(0xAA))
        #expect(HTTPDate.length == 29)
    }

    @Test func matchesGmtimeAndStrftimeFrom1970To2200() {
        let end = 7_258_118_400  // 2200-01-01T00:00:00Z
        var rng = SplitMix64(seed: 20_240_229)
        var samples = (0..<4000).map { _ in Int.random(in: 0..<end, using: &rng) }
        // Day and year boundaries around leap days, century years and the end of the range.
        for day in [59, 365, 730, 1154, 10_956, 11_016, 11_017, 47_541, 47_542, 47_483, 84_000] {
            samples += [day * 86_400 - 1, day * 86_400, day * 86_400 + 86_399]
        }
        samples.append(end - 1)
        var mismatches = 0
        for s in samples {
            let ours = Self.format(s)
            let theirs = Self.libc(s)
            if ours != theirs {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(s): \(ours) != \(theirs)") }
            }
        }
        #expect(mismatches == 0)
        #expect(samples.count > 4000)
    }

    @Test func matchesGmtimeBefore1970() {
        var rng = SplitMix64(seed: 1969)
        for _ in 0..<500 {
            let s = -Int.random(in: 1...2_208_988_800, using: &rng)  // back to 1900
            #expect(Self.format(s) == Self.libc(s), "\(s)")
        }
    }
}
