// Examples/web-routes' routes on Hummingbird 2, on one event-loop thread (as ours runs one
// ring on one thread), for a per-core comparison.
//   hummingbird-routes --port PORT   (0 picks a free port)
import Foundation
import Hummingbird
import NIOPosix

struct Greeting: ResponseEncodable {
    var message: String
    var id: Int
}

var port = 8080
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard flag == "--port", let value = arguments.popFirst(), let p = Int(value) else {
        print("usage: hummingbird-routes [--port PORT]")
        exit(2)
    }
    port = p
}

let router = Router()
router.get("/") { _, _ in "hello world\n" }
router.get("/async") { _, _ async in "hello world\n" }
router.get("/json") { _, _ in Greeting(message: "hello world", id: 42) }
router.get("/users/:id") { _, context in "user \(context.parameters.get("id") ?? "")\n" }
router.post("/echo") { request, _ -> Response in
    let body = try await request.body.collect(upTo: 1 << 20)
    return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: body))
}

let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port)),
    onServerRunning: { channel in
        // Unbuffered: the harness reads this line through a pipe.
        FileHandle.standardOutput.write(Data("listening on http://127.0.0.1:\(channel.localAddress?.port ?? 0)\n".utf8))
    },
    eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: 1))
)
try await app.runService()
