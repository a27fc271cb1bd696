import Glibc
import HTTP1
import HTTPServer
import URing

/// A handler driven in-process, on the calling thread: request bytes in, parsed responses
/// out, with no port, no listener and no other thread. The handler runs in a real
/// HTTPServer loop (so async handlers, their deadlines, streaming and every protocol rule
/// are the production ones) whose one connection is an AF_UNIX socketpair; each call turns
/// the loop until its answer is complete.
///
///     let harness = try TestHarness(Application(router: router))
///     let r = try harness.respond(to: "GET /users/7 HTTP/1.1\r\nHost: t\r\n\r\n")
///     #expect(r.status == 200)
///
/// Requests on one harness share one keep-alive connection, in order. Bounded: a call gives
/// up (nil, or a thrown error) after `timeoutNanoseconds` of turns without its answer.
public final class TestHarness<Handler: HTTPHandler> {
    public let server: HTTPServer<Handler>
    public let client: TestClient
    public var timeoutNanoseconds: UInt64 = 10_000_000_000
    var deadline: UInt64 = 0

    public init(_ handler: Handler, configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        var configuration = ServerConfiguration()
        configuration.directDescriptors = false
        configure(&configuration)
        server = try HTTPServer(configuration: configuration, handler: handler)
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw TestClientError("socketpair: errno \(errno)")
        }
        server.start()
        server.adopt(Descriptor(process: pair[0]))
        let box = Turner()
        client = TestClient(descriptor: pair[1]) { box.turn() }
        box.harness = { [unowned self] in self.turnOnce() }
    }

    /// Lets the closure the client holds reach the harness without a cycle at init.
    final class Turner {
        var harness: (() -> Bool)?
        func turn() -> Bool { harness?() ?? false }
    }

    func turnOnce() -> Bool {
        guard server.isRunning, monotonicNanoseconds() < deadline else { return false }
        do { try server.turn() } catch { return false }
        return true
    }

    /// Sends `request` (one or more requests' bytes) and reads one response.
    public func respond(to request: String, isHead: Bool = false) throws -> TestResponse {
        deadline = monotonicNanoseconds() &+ timeoutNanoseconds
        try client.send(request)
        guard let response = client.readResponse(isHead: isHead) else {
            throw TestClientError("no response to \(request.debugDescription)")
        }
        return response
    }

    /// Reads the next response (of requests sent before), or nil when none comes in time.
    public func nextResponse(isHead: Bool = false) -> TestResponse? {
        deadline = monotonicNanoseconds() &+ timeoutNanoseconds
        return client.readResponse(isHead: isHead)
    }

    /// Turns the loop for up to `nanoseconds` (to let time pass for a deadline, say).
    public func run(forNanoseconds nanoseconds: UInt64) {
        deadline = monotonicNanoseconds() &+ nanoseconds
        while turnOnce() {}
    }
}
