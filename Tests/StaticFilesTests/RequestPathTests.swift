import Testing
@testable import StaticFiles

@Suite struct RequestPathTests {
    func resolve(_ raw: String, under prefix: String = "/") -> Result<(path: [UInt8], trailingSlash: Bool), RequestPath.Refusal>? {
        Array(raw.utf8).withUnsafeBytes { RequestPath.relative($0, under: Array(prefix.utf8)) }
    }

    func path(_ raw: String, under prefix: String = "/") -> String? {
        guard case .success(let r)? = resolve(raw, under: prefix) else { return nil }
        return String(decoding: r.path, as: UTF8.self)
    }

    func isMalformed(_ raw: String) -> Bool {
        if case .failure(.malformed)? = resolve(raw) { return true }
        return false
    }

    @Test func plainPathsResolveBelowTheRoot() {
        #expect(path("/") == "")
        #expect(path("/a.txt") == "a.txt")
        #expect(path("/dir/") == "dir")
        #expect(path("/a%20b.txt") == "a b.txt")
        #expect(path("/caf%C3%A9") == "café")
        if case .success(let r)? = resolve("/dir/") { #expect(r.trailingSlash) } else { Issue.record("no /dir/") }
        if case .success(let r)? = resolve("/dir") { #expect(!r.trailingSlash) } else { Issue.record("no /dir") }
    }

    @Test(arguments: [
        "/..", "/../etc/passwd", "/a/../../etc", "/%2e%2e/etc/passwd", "/%2E%2E/x", "/.%2e/x", "/..%2fetc",
        "/%2fetc/passwd", "//etc/passwd", "/a//b", "/a\\..\\b", "/a%5c..%5cb", "/a%00.txt", "/%252e%252e/etc",
        "/a%2", "/a%zz", "http://host/a.txt", "*", "a.txt", "/a%0d%0aX: y", "/./a", "/a/.",
    ])
    func tricksAreRefused(_ raw: String) {
        #expect(isMalformed(raw), "\(raw) should be refused")
    }

    @Test func hiddenNamesAreNotFound() {
        #expect(resolve("/.env").map { if case .failure(.hidden) = $0 { true } else { false } } == true)
        #expect(resolve("/a/.git/config").map { if case .failure(.hidden) = $0 { true } else { false } } == true)
    }

    @Test func aPrefixServesOnlyWhatIsUnderIt() {
        #expect(path("/static/a.css", under: "/static") == "a.css")
        #expect(path("/static", under: "/static") == "")
        #expect(path("/static/", under: "/static/") == "")
        #expect(resolve("/staticfile", under: "/static") == nil ? true : false)
        #expect(resolve("/other/a.css", under: "/static") == nil ? true : false)
    }

    /// Whatever the input, an accepted path is relative and has no step that could climb,
    /// nor any byte the filesystem could read as a separator or an end.
    @Test func randomTargetsNeverYieldAnEscapingPath() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("/.%2eEfF5cC0a\\x".utf8) + [0, 0x7f, 0x0a]
        for _ in 0..<20_000 {
            let count = Int.random(in: 1...16, using: &rng)
            var raw = [UInt8(ascii: "/")]
            for _ in 1..<count { raw.append(alphabet.randomElement(using: &rng)!) }
            guard case .success(let r)? = raw.withUnsafeBytes({ RequestPath.relative($0) }) else { continue }
            guard !r.path.isEmpty else { continue }  // the root itself
            #expect(r.path.first != UInt8(ascii: "/"))
            #expect(!r.path.contains(0) && !r.path.contains(UInt8(ascii: "\\")) && !r.path.contains(UInt8(ascii: "%")))
            for segment in r.path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
                #expect(!segment.isEmpty && segment.first != UInt8(ascii: "."), "\(raw)")
            }
        }
    }
}
