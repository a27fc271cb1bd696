import Logging
import Testing
import Web
import WebTesting

/// README's example of the framework, as written there, served and asked.
@Suite struct ReadmeExampleTests {
    struct NewNote: Codable { var text: String }

    func readmeApplication() -> Application<Chain<RequestLog, CORS>> {
        let logger = Logger(label: "notes")
        var router = Router()
        router.get("/") { _, response in response.respond(.ok, body: "hello\n") }
        router.get("/users/{id}") { request async throws -> Response in
            guard let id = request.parameter("id", as: Int.self) else { throw HTTPError(.badRequest, "id is a number") }
            return try .json(["id": id])
        }
        router.post("/notes") { request async throws -> Response in
            let note = try request.decode(NewNote.self)
            return try Response.json(note, status: .created).header("Location", "/notes/1")
        }
        return Application(router: router, middleware: RequestLog(logger).then(CORS()))
    }

    @Test func theExampleServesWhatItSays() throws {
        let server = try LiveServer(readmeApplication())
        defer { server.stop() }
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").text == "hello\n")
        #expect(try fetch(server.port, "GET /users/7 HTTP/1.1\r\nHost: t\r\n\r\n").text == #"{"id":7}"#)
        #expect(try fetch(server.port, "GET /users/x HTTP/1.1\r\nHost: t\r\n\r\n").status == 400)
        let created = try fetch(server.port, "POST /notes HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n\r\n{\"text\":\"a\"}")
        #expect(created.status == 201 && created.header("Location") == "/notes/1")
        #expect(try fetch(server.port, "POST /notes HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{x").status == 400)
    }
}
