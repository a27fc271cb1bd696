import Foundation
import Glibc
import HTTP1
import HTTPServer
import Testing
import URing
import Web
import WebTesting

/// The client's address as handlers see it, over real loopback connections: asked of the
/// kernel through the ring when each connection starts (direct descriptors and process
/// descriptors alike), IPv4 and IPv6, sync and async handlers.
@Suite struct ClientAddressLiveTests {
    static func application() -> Application<NoMiddleware> {
        var router = Router()
        router.get("/who") { request, response in
            response.respond(.ok, text: request.clientAddress?.description ?? "unknown")
        }
        router.get("/who-later") { request async -> Response in
            await Task.yield()
            return .text(request.clientAddress.map { "\($0.host) \($0.port)" } ?? "unknown")
        }
        return Application(router: router)
    }

    @Test(arguments: [true, false])
    func anIPv4ClientIsSeenWithItsOwnPort(directDescriptors: Bool) throws {
        let server = try LiveServer(Self.application()) { $0.directDescriptors = directDescriptors }
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        try client.send(get("/who"))
        #expect(client.readResponse()?.text == "127.0.0.1:\(client.localPort)")
        // Every request of the connection, and an async handler's owned copy.
        try client.send(get("/who-later"))
        #expect(client.readResponse()?.text == "127.0.0.1 \(client.localPort)")
        let other = try TestClient(port: server.port)
        try other.send(get("/who"))
        #expect(other.readResponse()?.text == "127.0.0.1:\(other.localPort)", "each connection its own")
    }

    /// An IPv6 peer's address is longer than the first ask's 16 bytes: asked again for 28.
    @Test(.enabled(if: hasIPv6Loopback, "no ::1 on this machine (IPv6 turned off)"))
    func anIPv6ClientIsSeenInFull() throws {
        let server = try LiveServer(Self.application()) { $0.host = "::1" }
        defer { server.stop() }
        let client = try TestClient(port: server.port, ipv6: true)
        try client.send(get("/who"))
        #expect(client.readResponse()?.text == "[::1]:\(client.localPort)")
        try client.send(get("/who-later"))
        #expect(client.readResponse()?.text == "::1 \(client.localPort)")
    }

    @Test func turnedOffTheAddressIsUnknown() throws {
        let server = try LiveServer(Self.application()) { $0.knowsClients = false }
        defer { server.stop() }
        #expect(try fetch(server.port, get("/who")).text == "unknown")
    }

    /// In-process over a Unix socketpair: no IP address, so none (not a wrong one).
    @Test func aUnixSocketHasNoClientAddress() throws {
        let harness = try TestHarness(Self.application())
        #expect(try harness.respond(to: get("/who")).text == "unknown")
    }
}

/// Whether ::1 can be bound here: containers often run without IPv6.
let hasIPv6Loopback: Bool = {
    guard let fd = try? Socket.listen(host: "::1", port: 0) else { return false }
    close(fd)
    return true
}()
