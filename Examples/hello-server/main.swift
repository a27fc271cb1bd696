// The smallest program on the library: one process, one ring, one handler.
//   swift run hello-server        then   curl http://127.0.0.1:8000/
import Glibc
import HTTP1
import HTTPServer
import URing

struct Hello: HTTPHandler {
    mutating func handle(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome {
        response.respond(.ok, body: "hello world\n")
        return .done
    }
}

do {
    var config = ServerConfiguration()
    config.port = 8000
    let server = try HTTPServer(configuration: config, handler: Hello())
    server.addListener(try Socket.listen(host: config.host, port: config.port))
    printLine("listening on http://\(config.host):\(config.port)")
    try server.run()
} catch {
    printError("hello-server: \(error)")
    exit(1)
}
