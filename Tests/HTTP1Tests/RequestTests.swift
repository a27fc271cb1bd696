import Testing
@testable import HTTP1

@Suite("Request")
struct RequestTests {
    /// Parses `text` (a head, then `body` bytes) and calls `check` with the Request a handler would see.
    static func withRequest(_ text: String, body: String = "", _ check: (Request) throws -> Void) throws {
        let all = bytes(text + body)
        let parsed = parseHead(all)
        let head = try #require(parsed.head)
        let fields = Array(parsed.fields[0..<head.fieldCount])
        try all.withUnsafeBytes { raw in
            try fields.withUnsafeBufferPointer { f in
                let bodyRange = ByteRange(start: head.headEnd, count: body.utf8.count)
                try check(Request(head: head, bytes: raw, fields: f, body: bodyRange))
            }
        }
    }

    static func get(_ target: String, _ lines: [String] = []) -> String {
        requestHead("GET \(target) HTTP/1.1", lines)
    }

    @Test(arguments: [
        ("/?ms=20", 20 as Int?),
        ("/?a=1&ms=5", 5),
        ("/?ms=5&a=1", 5),
        ("/?ms=0", 0),
        ("/?ms=007", 7),
        ("/?ms=5&ms=9", 5),            // the first occurrence wins
        ("/?ms=999999999999", 999_999_999_999),  // 12 digits
        ("/?a=1", nil),                 // missing
        ("/", nil),                     // no query at all
        ("/?", nil),
        ("/?ms=x", nil),                // malformed
        ("/?ms=1x", nil),
        ("/?ms=-1", nil),
        ("/?ms=", nil),                 // empty value
        ("/?ms", nil),                  // no '='
        ("/?ms=1000000000000", nil),    // 13 digits
        ("/?xms=5", nil),               // a longer name ending in the key
        ("/?msx=5", nil),               // a longer name starting with the key
        ("/?ms05", nil),                // the key followed by something other than '='
        ("/?msx5", nil),
        ("/?a=ms=5", nil),
        ("/ms=5", nil),                 // in the path, not the query
    ])
    func queryInteger(_ target: String, _ expected: Int?) throws {
        try Self.withRequest(Self.get(target)) { r in
            #expect(r.queryInteger("ms") == expected)
        }
    }

    @Test func headerLookupIsCaseInsensitive() throws {
        try Self.withRequest(Self.get("/", ["X-Token: abc", "content-TYPE: text/plain", "X-Token: second"])) { r in
            let token = try #require(r.header("x-token"))
            #expect(Array(token) == bytes("abc"))  // the first field of that name
            #expect(r.header("content-type").map { Array($0) } == bytes("text/plain"))
            #expect(r.header("host").map { Array($0) } == bytes("example.com"))
            #expect(r.header("x-missing") == nil)
            #expect(r.header("x-tok") == nil)
        }
    }

    @Test func emptyHeaderValueIsFoundAndEmpty() throws {
        try Self.withRequest(Self.get("/", ["X-Empty:"])) { r in
            let v = try #require(r.header("x-empty"))
            #expect(v.count == 0)
        }
    }

    @Test func pathIsComparesTheWholePathExactly() throws {
        try Self.withRequest(Self.get("/hello?x=1")) { r in
            #expect(r.pathIs("/hello"))
            #expect(!r.pathIs("/hell"))
            #expect(!r.pathIs("/hellp"))
            #expect(!r.pathIs("/hello/"))
            #expect(!r.pathIs("/hello?x=1"))
            #expect(!r.pathIs("/HELLO"))
            #expect(r.pathString == "/hello")
            #expect(Array(r.query) == bytes("x=1"))
        }
        try Self.withRequest(Self.get("/")) { r in
            #expect(r.pathIs("/"))
            #expect(!r.pathIs(""))
        }
    }

    @Test func methodAndBodyViews() throws {
        try Self.withRequest(requestHead("POST /submit HTTP/1.1", ["Content-Length: 4"]), body: "data") { r in
            #expect(r.method == .post)
            #expect(r.methodString == "POST")
            #expect(Array(r.body) == bytes("data"))
        }
        try Self.withRequest(requestHead("PROPFIND /dav HTTP/1.1")) { r in
            #expect(r.method == .other)
            #expect(r.methodString == "PROPFIND")
            #expect(r.body.count == 0)
        }
    }
}
