// The routes the framework is measured on beside Hummingbird 2 (tools/bench-framework.py):
// one process, one ring, one thread.
//   GET /            hello, synchronous (the path with no allocation)
//   GET /async       hello, from an async handler
//   GET /json        a small struct encoded as JSON
//   GET /users/{id}  a path parameter
//   POST /echo       the request's body back
//   POST /upload     a body of any length read in parts (its byte count back)
// Run: swift run web-routes --port 8080   (--port 0 picks a free port)
import FoundationEssentials
import Glibc
import HTTP1
import HTTPServer
import URing
import Web

struct Greeting: Codable, Sendable {
    var message: String
    var id: Int
}

var router = Router()
router.get("/") { _, response in response.respond(.ok, body: "hello world\n") }
router.get("/async") { _ async -> Response in .text("hello world\n") }
router.get("/json") { _, response in response.respond(try .json(Greeting(message: "hello world", id: 42))) }
router.get("/users/{id}") { request, response in
    response.respond(.ok, text: "user \(request.parameter("id") ?? "")\n")
}
router.post("/echo") { request, response in
    response.respond(.ok, contentType: "application/octet-stream", body: request.body)
}

router.streamingBody(.post, "/upload") { _, body async throws -> Response in
    var total = 0
    for try await part in body { total += part.count }
    return .text("\(total)\n")
}

var port: UInt16 = 8080
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard flag == "--port", let value = arguments.popFirst(), let p = UInt16(value) else {
        printError("usage: web-routes [--port PORT]")
        exit(2)
    }
    port = p
}

do {
    var config = ServerConfiguration()
    config.port = port
    let server = try HTTPServer(configuration: config, handler: Application(router: router))
    let listener = try Socket.listen(host: config.host, port: port)
    server.addListener(listener, exclusive: true)
    printLine("listening on http://\(config.host):\(try Socket.localPort(listener))")
    try server.run()
} catch {
    printError("web-routes: \(error)")
    exit(1)
}
