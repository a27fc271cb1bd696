import Foundation
import HTTP1
import Testing
@testable import Web

@Suite struct RouterTests {
    /// Routes numbered in the order added.
    func table(_ routes: [(HTTPMethod, String)]) -> FrozenRoutes {
        var router = Router()
        for (method, path) in routes { router.on(method, path) { _, r in r.respond(.ok, body: "x") } }
        return router.table.frozen()
    }

    @Test func literalsParametersAndWildcardsMatchInPriorityOrder() {
        let t = table([(.get, "/"), (.get, "/users"), (.get, "/users/{id}"), (.get, "/users/me"),
                       (.get, "/users/{id}/posts/{post}"), (.get, "/files/**"), (.get, "/a/*/c")])
        #expect(route(t, .get, "/") == "route 0")
        #expect(route(t, .get, "/users") == "route 1")
        #expect(route(t, .get, "/users/") == "route 1", "empty segments are ignored")
        #expect(route(t, .get, "/users/42") == "route 2 id=42")
        #expect(route(t, .get, "/users/me") == "route 3", "a literal wins over a parameter")
        #expect(route(t, .get, "/users/7/posts/x%20y") == "route 4 id=7 post=x%20y")
        #expect(route(t, .get, "/files/a/b/c.txt") == "route 5 **=a/b/c.txt")
        #expect(route(t, .get, "/files") == "route 5 **=")
        #expect(route(t, .get, "/a/b/c") == "route 6 *=b")
        #expect(route(t, .get, "/a/b/d") == "404")
        #expect(route(t, .get, "/nothing") == "404")
        #expect(route(t, .get, "/users/7/posts") == "404")
    }

    @Test func aFailedLiteralBranchBacktracksToAParameter() {
        let t = table([(.get, "/a/b/c"), (.get, "/a/{x}/d")])
        #expect(route(t, .get, "/a/b/d") == "route 1 x=b")
        #expect(route(t, .get, "/a/b/c") == "route 0")
    }

    @Test func aPathServedForOtherMethodsIs405WithAllowFromTheTable() {
        let t = table([(.get, "/notes"), (.post, "/notes"), (.delete, "/notes/{id}"), (.get, "/notes/{id}")])
        #expect(route(t, .put, "/notes") == "Allow: GET, HEAD, POST")
        #expect(route(t, .post, "/notes/3") == "Allow: GET, HEAD, DELETE")
        #expect(route(t, .other, "/notes") == "Allow: GET, HEAD, POST")
        #expect(route(t, .post, "/elsewhere") == "404")
    }

    /// RFC 9110 §15.5.6: Allow lists every method the target supports, whichever routes
    /// serve them (it used to name only the first route's node).
    @Test func allowListsTheMethodsOfEveryRouteThatMatchesThePath() {
        let t = table([(.delete, "/users/me"), (.get, "/users/{id}"), (.patch, "/users/*")])
        #expect(route(t, .put, "/users/me") == "Allow: GET, HEAD, DELETE, PATCH")
        #expect(route(t, .put, "/users/7") == "Allow: GET, HEAD, PATCH")
    }

    @Test func headIsAnsweredByGetUnlessItHasItsOwnRoute() {
        let t = table([(.get, "/a"), (.get, "/b"), (.head, "/b")])
        #expect(route(t, .head, "/a") == "route 0")
        #expect(route(t, .head, "/b") == "route 2")
        #expect(route(t, .get, "/b") == "route 1")
    }

    @Test func malformedPatternsAreRefused() {
        #expect(throws: RoutePattern.Malformed.unclosedBrace("{id")) { try RoutePattern("/users/{id") }
        #expect(throws: RoutePattern.Malformed.restNotLast) { try RoutePattern("/a/**/b") }
        #expect(throws: RoutePattern.Malformed.emptyParameterName) { try RoutePattern("/a/{}") }
        #expect(throws: RoutePattern.Malformed.duplicateParameter("x")) { try RoutePattern("/{x}/{x}") }
        #expect(throws: RoutePattern.Malformed.tooManyParameters(9)) { try RoutePattern("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}") }
    }

    @Test func aRouterIsAValueAddingToACopyLeavesTheOriginal() {
        var a = Router()
        a.get("/x") { _, r in r.respond(.ok, body: "x") }
        var b = a
        b.get("/y") { _, r in r.respond(.ok, body: "y") }
        #expect(route(a.table.frozen(), .get, "/y") == "404")
        #expect(route(b.table.frozen(), .get, "/y") == "route 1")
    }

    /// Random paths against a table: matching never traps, and a route found has its
    /// parameters inside the path.
    @Test(arguments: 0..<50)
    func randomPathsMatchSafely(seed: Int) {
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
        let t = table([(.get, "/a/{x}"), (.get, "/a/b/**"), (.post, "/*/c/{y}"), (.get, "/{p}/{q}/{r}")])
        let alphabet: [Character] = ["a", "b", "c", "/", "/", "%", "2"]
        for _ in 0..<200 {
            let path = "/" + String((0..<Int(next() % 12)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] })
            let result = route(t, next() % 2 == 0 ? .get : .post, path)
            #expect(result.hasPrefix("route") || result.hasPrefix("Allow") || result == "404", "\(path): \(result)")
        }
    }
}

@Suite struct RequestTests {
    @Test func pathQueryHeadersAndCookiesAreDecodedOnlyWhenAsked() throws {
        let text = "GET /caf%C3%A9/a%2Fb?q=hello+world&n=42&tag=x&tag=y%20z&flag&bad=%zz HTTP/1.1\r\n"
            + "Host: example\r\nX-Trace-ID: abc\r\nCookie: session=\"s1\"; theme=dark\r\nCookie: lang=en\r\n\r\n"
        try withParsedRequest(text) { r in
            let request = HTTPRequest(r, parameters: RouteParameters())
            #expect(request.rawPath == "/caf%C3%A9/a%2Fb")
            #expect(request.path == "/café/a/b")
            #expect(request.pathSegments == ["café", "a/b"], "a decoded slash stays inside its segment")
            #expect(request.query("q") == "hello world")
            #expect(request.query("n", as: Int.self) == 42)
            #expect(request.query("q", as: Int.self) == nil)
            #expect(request.queryAll("tag") == ["x", "y z"])
            #expect(request.query("flag") == "")
            #expect(request.query("bad") == nil, "a malformed escape is no value")
            #expect(request.query("missing") == nil)
            #expect(request.header("x-trace-id") == "abc")
            #expect(request.header("X-TRACE-ID") == "abc")
            #expect(request.header("missing") == nil)
            #expect(request.headers(named: "cookie").count == 2)
            #expect(request.cookie("session") == "s1")
            #expect(request.cookie("theme") == "dark")
            #expect(request.cookie("lang") == "en")
            #expect(request.cookie("sess") == nil)
            #expect(request.headers.first?.name == "Host")
        }
    }

    @Test func aMalformedPathEncodingIsNil() throws {
        try withParsedRequest("GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n") { r in
            let request = HTTPRequest(r, parameters: RouteParameters())
            #expect(request.path == nil)
            #expect(request.pathSegments == nil)
        }
        try withParsedRequest("GET /%FF HTTP/1.1\r\nHost: h\r\n\r\n") { r in
            #expect(HTTPRequest(r, parameters: RouteParameters()).path == nil, "not UTF-8")
        }
    }

    struct Note: Codable, Equatable { var text: String }

    @Test func theBodyDecodesAsJSONOrThrows400() throws {
        let body = #"{"text": "hi"}"#
        try withParsedRequest("POST /n HTTP/1.1\r\nHost: h\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)") { r in
            let request = HTTPRequest(r, parameters: RouteParameters())
            let note = try request.decode(Note.self)
            #expect(note == Note(text: "hi"))
            #expect(request.bodyText == body)
        }
        try withParsedRequest("POST /n HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n{nope") { r in
            let request = HTTPRequest(r, parameters: RouteParameters())
            #expect(throws: HTTPError.self) { try request.decode(Note.self) }
            do { _ = try request.decode(Note.self) } catch let error as HTTPError { #expect(error.status == .badRequest) } catch {}
        }
    }

    @Test func anOwnedCopyOutlivesTheBytesItWasMadeFrom() throws {
        let owned = try withParsedRequest("POST /x?a=1 HTTP/1.1\r\nHost: h\r\nX-A: b\r\nContent-Length: 3\r\n\r\nabc") { r in
            HTTPRequest(r, parameters: RouteParameters()).owned()
        }
        // The parse buffer is gone; the copy still reads.
        #expect(owned.rawPath == "/x")
        #expect(owned.query("a") == "1")
        #expect(owned.header("x-a") == "b")
        #expect(owned.bodyText == "abc")
    }
}

@Suite struct ResponseTests {
    @Test func headerNamesAndValuesThatCouldSplitAResponseAreRefused() {
        #expect(throws: HeaderLines.Invalid.value(name: "Location")) { try Response.empty(.found).header("Location", "/a\r\nSet-Cookie: x=1") }
        #expect(throws: HeaderLines.Invalid.value(name: "X-A")) { try Response.empty().header("X-A", "a\nb") }
        #expect(throws: HeaderLines.Invalid.value(name: "X-A")) { try Response.empty().header("X-A", "a\u{0}b") }
        #expect(throws: HeaderLines.Invalid.name("Bad Name")) { try Response.empty().header("Bad Name", "v") }
        #expect(throws: HeaderLines.Invalid.name("")) { try Response.empty().header("", "v") }
        #expect(throws: HeaderLines.Invalid.reserved("Content-Length")) { try Response.empty().header("Content-Length", "3") }
        #expect(throws: HeaderLines.Invalid.reserved("connection")) { try Response.empty().header("connection", "close") }
        #expect(throws: HeaderLines.Invalid.value(name: "Content-Type")) { try Response.empty().header("Content-Type", "a\rb") }
    }

    @Test func fieldsKeepTheirOrderAndRepeatAndContentTypeHasItsPlace() throws {
        let r = try Response.text("x").header("Set-Cookie", "a=1").header("Set-Cookie", " b=2 ").header("content-type", "text/x")
        #expect(String(decoding: r.headers.bytes, as: UTF8.self) == "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n")
        #expect(r.contentType == "text/x")
    }

    @Test func anErrorIsAJSONObjectWithItsMessageEscaped() {
        let r = HTTPError(.conflict, "a \"quoted\"\nline").response
        #expect(r.status == .conflict)
        #expect(r.contentType == "application/json")
        let decoded = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: String]
        #expect(decoded == ["error": "a \"quoted\"\nline"])
        #expect(HTTPError.response(for: CocoaError(.fileNoSuchFile)).status == .internalServerError)
    }
}
