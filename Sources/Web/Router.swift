import HTTP1

/// What a route does with a request.
public enum RouteHandler: Sendable {
    /// Answers on the loop, before the handler returns: the path with no allocation of its
    /// own (the request is a view, the response is written in place).
    case sync(@Sendable (HTTPRequest, inout ResponseWriter) throws -> Void)
    /// Answers later, from a task on the loop's executor: the handler may await anything.
    /// Its request is an owned copy.
    case async(@Sendable (HTTPRequest) async throws -> Response)
    /// As `async`, with the body read in parts as it arrives (`RequestBody`) instead of
    /// whole before the call: any length, in bounded memory.
    case streamingBody(@Sendable (HTTPRequest, RequestBody) async throws -> Response)
}

/// The routes of an application, built before it serves:
///
///     var router = Router()
///     router.get("/") { _, response in response.respond(.ok, body: "hello\n") }
///     router.get("/users/{id}") { request async throws -> Response in
///         guard let id = request.parameter("id", as: Int.self) else { throw HTTPError(.badRequest, "id") }
///         return try .json(await users.find(id))
///     }
///
/// A path is literal segments, `{name}` parameters (one segment each), `*` (any one
/// segment) and a final `**` (the rest of the path, as parameter `**`). Empty segments are
/// ignored, so `/users/` is `/users`. When several routes match, a literal wins over a
/// parameter, which wins over `*`, then `**`. A GET route answers HEAD too (without the
/// body) unless a HEAD route is given. A path served for other methods is answered 405
/// with `Allow`; a path not served at all, 404.
public struct Router: Sendable {
    var table = RouteTable()

    public init() {}

    /// Adds a synchronous route. Traps on a malformed path (a programmer's error, found
    /// at start-up): an unclosed `{`, a `**` before the end, more than
    /// `RouteParameters.capacity` parameters, or the same method and path twice.
    public mutating func on(_ method: HTTPMethod, _ path: String,
                            _ handler: @escaping @Sendable (HTTPRequest, inout ResponseWriter) throws -> Void) {
        add(method, path, .sync(handler))
    }

    /// Adds an async route.
    public mutating func on(_ method: HTTPMethod, _ path: String,
                            _ handler: @escaping @Sendable (HTTPRequest) async throws -> Response) {
        add(method, path, .async(handler))
    }

    /// Adds a route whose body is read in parts (an upload of gigabytes, say): the handler
    /// starts once the head is read, and iterates `body`. Its length is bounded by
    /// `HTTPLimits.maxStreamedBodyBytes`, not `maxBodyBytes`.
    public mutating func streamingBody(_ method: HTTPMethod, _ path: String,
                                       _ handler: @escaping @Sendable (HTTPRequest, RequestBody) async throws -> Response) {
        add(method, path, .streamingBody(handler))
    }

    public mutating func get(_ path: String, _ handler: @escaping @Sendable (HTTPRequest, inout ResponseWriter) throws -> Void) { on(.get, path, handler) }
    public mutating func get(_ path: String, _ handler: @escaping @Sendable (HTTPRequest) async throws -> Response) { on(.get, path, handler) }
    public mutating func post(_ path: String, _ handler: @escaping @Sendable (HTTPRequest, inout ResponseWriter) throws -> Void) { on(.post, path, handler) }
    public mutating func post(_ path: String, _ handler: @escaping @Sendable (HTTPRequest) async throws -> Response) { on(.post, path, handler) }
    public mutating func put(_ path: String, _ handler: @escaping @Sendable (HTTPRequest, inout ResponseWriter) throws -> Void) { on(.put, path, handler) }
    public mutating func put(_ path: String, _ handler: @escaping @Sendable (HTTPRequest) async throws -> Response) { on(.put, path, handler) }
    public mutating func patch(_ path: String, _ handler: @escaping @Sendable (HTTPRequest, inout ResponseWriter) throws -> Void) { on(.patch, path, handler) }
    public mutating func patch(_ path: String, _ handler: @escaping @Sendable (HTTPRequest) async throws -> Response) { on(.patch, path, handler) }
    public mutating func delete(_ path: String, _ handler: @escaping @Sendable (HTTPRequest, inout ResponseWriter) throws -> Void) { on(.delete, path, handler) }
    public mutating func delete(_ path: String, _ handler: @escaping @Sendable (HTTPRequest) async throws -> Response) { on(.delete, path, handler) }

    mutating func add(_ method: HTTPMethod, _ path: String, _ handler: RouteHandler) {
        if !isKnownUniquelyReferenced(&table) { table = table.copy() }
        do {
            try table.add(method, RoutePattern(path), handler)
        } catch {
            preconditionFailure("route \(method) \(path): \(error)")
        }
    }
}
