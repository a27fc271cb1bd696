import Foundation
import StaticFiles
import Testing
import Web
import WebTesting

/// A file server mounted under a prefix before an application: files under the prefix,
/// the application's routes (sync, async, streamed bodies) for everything else.
@Suite struct MountedFilesTests {
    @Test func filesUnderThePrefixAndRoutesElsewhere() throws {
        let dir = NSTemporaryDirectory() + "mounted-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/css", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "body{}\n".write(toFile: dir + "/css/site.css", atomically: false, encoding: .utf8)
        var router = Router()
        router.get("/api/hello") { _, response in response.respond(.ok, body: "hi\n") }
        router.get("/api/later") { _ async throws -> Response in .text("later\n") }
        router.get("/staticky") { _, response in response.respond(.ok, body: "a route, not a file\n") }
        let app = try FileServer(root: FileRoot(dir), prefix: "/static").before(Application(router: router))
        let server = try LiveServer(app)
        defer { server.stop() }
        let css = try fetch(server.port, "GET /static/css/site.css HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(css.status == 200 && css.text == "body{}\n" && css.header("content-type") == "text/css; charset=utf-8")
        #expect(try fetch(server.port, "GET /static/css HTTP/1.1\r\nHost: t\r\n\r\n").header("location") == "/static/css/")
        #expect(try fetch(server.port, "GET /static/missing.css HTTP/1.1\r\nHost: t\r\n\r\n").status == 404)
        #expect(try fetch(server.port, "GET /static/../x HTTP/1.1\r\nHost: t\r\n\r\n").status == 400)
        #expect(try fetch(server.port, "GET /api/hello HTTP/1.1\r\nHost: t\r\n\r\n").text == "hi\n")
        #expect(try fetch(server.port, "GET /api/later HTTP/1.1\r\nHost: t\r\n\r\n").text == "later\n")
        #expect(try fetch(server.port, "GET /staticky HTTP/1.1\r\nHost: t\r\n\r\n").text == "a route, not a file\n")
        #expect(try fetch(server.port, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n").status == 404)
    }
}
