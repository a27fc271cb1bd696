import Foundation
import Testing

/// Examples/notes-api as a user runs it: a primary holding the notes, two workers answering
/// HTTP by requests to it, on loopback.
@Suite(.serialized) struct NotesAPITests {
    static func start() throws -> ServerProcess {
        try ServerProcess(program: ServerProcess.product("notes-api"), ["--port", "0", "--workers", "2"])
    }

    static func request(_ port: Int, _ method: String, _ path: String, body: String? = nil) throws -> TestResponse {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: t\r\n"
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { text += "\r\n" }
        return try fetch(port, text)
    }

    static func json(_ r: TestResponse) -> Any? { try? JSONSerialization.jsonObject(with: Data(r.body)) }

    @Test func notesAreCreatedReadListedAndDeletedThroughThePrimary() throws {
        let server = try Self.start()
        defer { server.stop() }
        var ids: [Int] = []
        for text in ["first", "second", "third"] {
            let r = try Self.request(server.port, "POST", "/notes", body: #"{"text": "\#(text)"}"#)
            #expect(r.status == 201)
            let note = try #require(Self.json(r) as? [String: Any])
            let id = try #require(note["id"] as? Int)
            #expect(note["text"] as? String == text)
            #expect(r.header("Location") == "/notes/\(id)")
            ids.append(id)
        }
        #expect(Set(ids).count == 3, "one store: every worker's ids are distinct")
        // Fresh connections land on either worker; each sees every note.
        for _ in 0..<6 {
            let r = try Self.request(server.port, "GET", "/notes/\(ids[1])")
            #expect(r.status == 200)
            #expect((Self.json(r) as? [String: Any])?["text"] as? String == "second")
        }
        let list = try Self.request(server.port, "GET", "/notes?limit=2")
        #expect(list.status == 200)
        let newest = (Self.json(list) as? [[String: Any]])?.compactMap { $0["text"] as? String }
        #expect(newest == ["third", "second"])
        #expect(try Self.request(server.port, "DELETE", "/notes/\(ids[0])").status == 204)
        let gone = try Self.request(server.port, "GET", "/notes/\(ids[0])")
        #expect(gone.status == 404)
        #expect((Self.json(gone) as? [String: String])?["error"] != nil)
        #expect(try Self.request(server.port, "DELETE", "/notes/\(ids[0])").status == 404)
    }

    @Test func badRequestsGetTheirStatus() throws {
        let server = try Self.start()
        defer { server.stop() }
        let malformed = try Self.request(server.port, "POST", "/notes", body: "{not json")
        #expect(malformed.status == 400)
        #expect((Self.json(malformed) as? [String: String])?["error"] != nil)
        #expect(try Self.request(server.port, "POST", "/notes", body: #"{"txt": 1}"#).status == 400)
        let put = try Self.request(server.port, "PUT", "/notes")
        #expect(put.status == 405)
        #expect(put.header("Allow") == "GET, HEAD, POST")
        #expect(try Self.request(server.port, "GET", "/notes?limit=0").status == 400)
        #expect(try Self.request(server.port, "GET", "/notes/abc").status == 404)
        #expect(try Self.request(server.port, "GET", "/elsewhere").status == 404)
    }

    @Test func sigtermStopsItGracefully() throws {
        let server = try Self.start()
        let c = try TestClient(port: server.port)
        try c.send("POST /notes HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n\r\n{\"text\":\"x\"}")
        #expect(c.readResponse()?.status == 201)
        kill(server.process.processIdentifier, SIGTERM)
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
    }
}
