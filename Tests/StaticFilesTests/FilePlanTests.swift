import HTTP1
import Testing
@testable import StaticFiles

@Suite struct FilePlanTests {
    let etag = Array("\"1-a-2\"".utf8)
    let modified: Int64 = 784_111_777  // Sun, 06 Nov 1994 08:49:37 GMT

    func plan(get: Bool = true, inm: String? = nil, ims: String? = nil, range: String? = nil, ifRange: String? = nil,
              size: Int = 100) -> FilePlan {
        FilePlan.decide(isGet: get, ifNoneMatch: inm.map { Array($0.utf8) }, ifModifiedSince: ims.map { Array($0.utf8) },
                        range: range.map { Array($0.utf8) }, ifRange: ifRange.map { Array($0.utf8) },
                        size: size, etag: etag, modifiedSeconds: modified)
    }

    @Test func datesParseAsTheyAreFormatted() {
        let text = Array("Sun, 06 Nov 1994 08:49:37 GMT".utf8)
        #expect(text.withUnsafeBytes { HTTPDate.parse($0) } == modified)
        for seconds in [0, 951_782_400, 1_700_000_000, 4_102_444_799] {
            var out = [UInt8](repeating: 0, count: HTTPDate.length)
            out.withUnsafeMutableBytes { HTTPDate.format(epochSeconds: seconds, into: $0.baseAddress!) }
            #expect(out.withUnsafeBytes { HTTPDate.parse($0) } == Int64(seconds))
        }
        // Out of the format's years: clamped, never a trap.
        for seconds in [Int.max, Int.min, 7_000_000_000_000] {
            var out = [UInt8](repeating: 0, count: HTTPDate.length)
            out.withUnsafeMutableBytes { HTTPDate.format(epochSeconds: seconds, into: $0.baseAddress!) }
            #expect(out.withUnsafeBytes { HTTPDate.parse($0) } != nil)
        }
        for bad in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 UTC",
                    "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT"] {
            #expect(Array(bad.utf8).withUnsafeBytes { HTTPDate.parse($0) } == nil, "\(bad)")
        }
    }

    @Test func validatorsAnswerNotModified() {
        #expect(plan(inm: "\"1-a-2\"") == .notModified)
        #expect(plan(inm: "W/\"1-a-2\"") == .notModified)  // weak comparison
        #expect(plan(inm: "\"x\", \"1-a-2\"") == .notModified)
        #expect(plan(inm: "*") == .notModified)
        #expect(plan(inm: "\"other\"") == .full)
        #expect(plan(get: false, inm: "\"1-a-2\"") == .notModified)  // HEAD too
        #expect(plan(ims: "Sun, 06 Nov 1994 08:49:37 GMT") == .notModified)
        #expect(plan(ims: "Mon, 07 Nov 1994 08:49:37 GMT") == .notModified)
        #expect(plan(ims: "Sat, 05 Nov 1994 08:49:37 GMT") == .full)
        #expect(plan(ims: "yesterday") == .full)
        // If-None-Match decides alone when present (RFC 9110 §13.1.3).
        #expect(plan(inm: "\"other\"", ims: "Mon, 07 Nov 1994 08:49:37 GMT") == .full)
    }

    @Test func singleRangesArePartial() {
        #expect(plan(range: "bytes=0-9") == .partial(start: 0, count: 10))
        #expect(plan(range: "bytes=90-") == .partial(start: 90, count: 10))
        #expect(plan(range: "bytes=-5") == .partial(start: 95, count: 5))
        #expect(plan(range: "bytes=-500") == .partial(start: 0, count: 100))
        #expect(plan(range: "bytes=50-5000") == .partial(start: 50, count: 50))
        #expect(plan(range: "Bytes=0-0") == .partial(start: 0, count: 1))
        #expect(plan(range: "bytes=100-") == .unsatisfiable)
        #expect(plan(range: "bytes=-0") == .unsatisfiable)
        #expect(plan(range: "bytes=0-", size: 0) == .unsatisfiable)
        // Ignored: several ranges, another unit, bad syntax, HEAD.
        for ignored in ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=a-b", "bytes=", "bytes=--1", "bytes=99999999999999999999-"] {
            #expect(plan(range: ignored) == .full, "\(ignored)")
        }
        #expect(plan(get: false, range: "bytes=0-9") == .full)
    }

    @Test func ifRangeSendsAllWhenTheFileChanged() {
        #expect(plan(range: "bytes=0-9", ifRange: "\"1-a-2\"") == .partial(start: 0, count: 10))
        #expect(plan(range: "bytes=0-9", ifRange: "\"old\"") == .full)
        #expect(plan(range: "bytes=0-9", ifRange: "W/\"1-a-2\"") == .full)
        #expect(plan(range: "bytes=0-9", ifRange: "Sun, 06 Nov 1994 08:49:37 GMT") == .partial(start: 0, count: 10))
        #expect(plan(range: "bytes=0-9", ifRange: "Mon, 07 Nov 1994 08:49:37 GMT") == .full)
        // A Last-Modified of this very second is a weak validator: If-Range cannot hold.
        let weak = FilePlan.decide(isGet: true, ifNoneMatch: nil, ifModifiedSince: nil, range: Array("bytes=0-9".utf8),
                                   ifRange: Array("Sun, 06 Nov 1994 08:49:37 GMT".utf8), size: 100, etag: etag,
                                   modifiedSeconds: modified, nowSeconds: modified)
        #expect(weak == .full)
    }

    /// Any range accepted lies inside the file.
    @Test func randomRangesStayInsideTheFile() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("bytes=0123456789-,".utf8)
        for _ in 0..<20_000 {
            let size = Int.random(in: 0...300, using: &rng)
            let value = (0..<Int.random(in: 0...14, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let p = FilePlan.decide(isGet: true, ifNoneMatch: nil, ifModifiedSince: nil, range: Array("bytes=".utf8) + value,
                                    ifRange: nil, size: size, etag: etag, modifiedSeconds: modified)
            if case .partial(let start, let count) = p {
                #expect(start >= 0 && count > 0 && start + count <= size, "\(String(decoding: value, as: UTF8.self)) of \(size)")
            }
        }
    }

    @Test func mediaTypesByExtension() {
        #expect(MediaType.of(Array("a/index.HTML".utf8)).description == "text/html; charset=utf-8")
        #expect(MediaType.of(Array("x.tar.gz".utf8)).description == "application/gzip")
        #expect(MediaType.of(Array("noext".utf8)).description == "application/octet-stream")
        #expect(MediaType.of(Array("dir.d/file".utf8)).description == "application/octet-stream")
    }
}
