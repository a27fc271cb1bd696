// A small JSON service on every core, as Node's cluster documentation advises: the notes
// live in the primary, the only shared state; each worker answers HTTP by asking the
// primary (Cluster.request) from async route handlers.
//
//   POST   /notes          {"text": "..."}  → 201, Location: /notes/ID, {"id": ID, "text": "..."}
//   GET    /notes/ID                        → 200 with the note, or 404 {"error": "..."}
//   GET    /notes?limit=N                   → 200, the newest N (default 20, at most 100), newest first
//   DELETE /notes/ID                        → 204, or 404 when there is no such note
//   malformed JSON → 400 {"error": ...}; a method a path does not serve → 405 with Allow
//
// Run: swift build -c release && .build/release/notes-api --port 8080 --workers 2
// (--port 0 picks a free port). Prints "listening on http://HOST:PORT" once every worker
// listens; SIGTERM or Ctrl-C stops it gracefully.
import Cluster
import Glibc
import HTTP1
import URing
import Web

struct Note: Codable, Sendable {
    var id: Int
    var text: String
}

struct NewNote: Codable, Sendable {
    var text: String
}

/// What a worker asks the primary.
enum NoteCommand: Codable, Sendable {
    case create(text: String)
    case get(id: Int)
    case list(limit: Int)
    case delete(id: Int)
}

enum NoteReply: Codable, Sendable {
    case note(Note)
    case notes([Note])
    case deleted
    case missing
}

/// The primary's store: notes by id, and their ids oldest first.
final class NoteStore {
    var notes: [Int: Note] = [:]
    var order: [Int] = []
    var nextID = 1
    /// The most notes kept; the oldest go first beyond it (a demo must not grow without bound).
    let capacity = 100_000

    func run(_ command: NoteCommand) -> NoteReply {
        switch command {
        case .create(let text):
            let note = Note(id: nextID, text: text)
            nextID += 1
            notes[note.id] = note
            order.append(note.id)
            if order.count > capacity { notes[order.removeFirst()] = nil }
            return .note(note)
        case .get(let id):
            return notes[id].map { .note($0) } ?? .missing
        case .list(let limit):
            var newest: [Note] = []
            for id in order.reversed() where newest.count < limit {
                if let note = notes[id] { newest.append(note) }
            }
            return .notes(newest)
        case .delete(let id):
            guard notes.removeValue(forKey: id) != nil else { return .missing }
            order.removeAll { $0 == id }
            return .deleted
        }
    }
}

struct Options {
    var host = "127.0.0.1"
    var port: UInt16 = 8080
    var workers = Cluster.defaultWorkerCount()

    init(_ arguments: ArraySlice<String>) {
        var rest = arguments
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { Self.usage("\(flag) needs a value") }
            switch flag {
            case "--host": host = value
            case "--port":
                guard let p = UInt16(value) else { Self.usage("--port must be 0...65535, not \(value)") }
                port = p
            case "--workers":
                guard let n = Int(value), (1...Cluster.maxWorkers).contains(n) else {
                    Self.usage("--workers must be 1...\(Cluster.maxWorkers), not \(value)")
                }
                workers = n
            default: Self.usage("unknown option \(flag)")
            }
        }
    }

    static func usage(_ problem: String) -> Never {
        printError("notes-api: \(problem)\nusage: notes-api [--host HOST] [--port PORT] [--workers N]")
        exit(2)
    }
}

func notFound(_ id: Int) -> HTTPError { HTTPError(.notFound, "no note \(id)") }

/// The id in the path; a path that is not a note's is no note.
func noteID(_ request: HTTPRequest) throws(HTTPError) -> Int {
    guard let id = request.parameter("id", as: Int.self), id > 0 else {
        throw HTTPError(.notFound, "no note \(request.parameter("id") ?? "")")
    }
    return id
}

var settings = PrimarySettings()
settings.restartWorkers = true
let cluster = Cluster(settings: settings)
let options = Options(CommandLine.arguments.dropFirst())

do {
    if cluster.isPrimary {
        let store = NoteStore()
        cluster.onRequest(NoteCommand.self) { _, command in store.run(command) }
        var listening = 0
        cluster.onListening { _, port in
            listening += 1
            if listening == options.workers { printLine("listening on http://\(options.host):\(port)") }
        }
        cluster.onExit { worker, status in
            if !cluster.isShuttingDown { printError("notes-api: worker \(worker.id) \(status); restarting it") }
        }
        for _ in 0..<options.workers { try cluster.fork() }
        try cluster.run()
    } else {
        var router = Router()
        router.post("/notes") { request async throws -> Response in
            let new = try request.decode(NewNote.self)
            guard case .note(let note) = try await cluster.request(NoteCommand.create(text: new.text), expecting: NoteReply.self) else {
                throw HTTPError(.internalServerError, "the store did not create the note")
            }
            return try Response.json(note, status: .created).header("Location", "/notes/\(note.id)")
        }
        router.get("/notes/{id}") { request async throws -> Response in
            let id = try noteID(request)
            guard case .note(let note) = try await cluster.request(NoteCommand.get(id: id), expecting: NoteReply.self) else {
                throw notFound(id)
            }
            return try .json(note)
        }
        router.delete("/notes/{id}") { request async throws -> Response in
            let id = try noteID(request)
            guard case .deleted = try await cluster.request(NoteCommand.delete(id: id), expecting: NoteReply.self) else {
                throw notFound(id)
            }
            return .empty(.noContent)
        }
        router.get("/notes") { request async throws -> Response in
            var limit = 20
            if request.query("limit") != nil {
                guard let n = request.query("limit", as: Int.self), (1...100).contains(n) else {
                    throw HTTPError(.badRequest, "limit must be an integer from 1 to 100")
                }
                limit = n
            }
            guard case .notes(let notes) = try await cluster.request(NoteCommand.list(limit: limit), expecting: NoteReply.self) else {
                throw HTTPError(.internalServerError, "the store did not list the notes")
            }
            return try .json(notes)
        }
        try cluster.serve(Application(router: router), host: options.host, port: options.port)
    }
} catch {
    printError("notes-api: \(error)")
    exit(1)
}
