import HTTP1
import HTTPServer

/// An application: a router served as an `HTTPHandler`, by one server
/// (`HTTPServer(configuration:handler:)`) or by every worker of a cluster
/// (`cluster.serve(application, port:)`).
///
/// A synchronous route runs in the handler call. An async route's request is copied
/// (`HTTPRequest.owned()`), and its handler runs in a task on the loop's executor; its
/// response is written when the task returns, in order with the connection's other
/// responses. If it has not returned by the server's `handlerTimeoutNanoseconds`, the
/// client gets 504 and the task is cancelled, as it is when the client goes away first.
/// An error a handler throws becomes its response (`HTTPError`: its status; anything else:
/// 500).
public struct Application: HTTPHandler, Sendable {
    let routes: FrozenRoutes

    public init(router: Router) {
        routes = router.table.frozen()
    }

    public mutating func handle(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome {
        switch routes.match(method: request.method, path: request.path, pathOffset: request.head.path.lowerBound) {
        case .route(let index, let parameters):
            let request = HTTPRequest(request, parameters: parameters)
            switch routes.routes[index].handler {
            case .sync(let handler):
                do {
                    try handler(request, &response)
                } catch {
                    if !response.hasResponded { response.respond(HTTPError.response(for: error)) }
                }
                return .done
            case .async(let handler):
                return Self.start(handler, request, &response, context)
            }
        case .methodNotAllowed(let node):
            routes.allowLines[node].withUnsafeBytes { allow in
                response.respond(.methodNotAllowed, contentType: ResponseText.plain, headerLines: allow,
                                 body: ResponseText.methodNotAllowed)
            }
            return .done
        case .notFound:
            response.respond(.notFound, body: "Not Found\n")
            return .done
        }
    }

    /// Starts an async handler's task on the loop's executor; its answer comes through the
    /// pending response.
    static func start(_ handler: @escaping @Sendable (HTTPRequest) async throws -> Response, _ request: HTTPRequest,
                      _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome {
        guard let ticket = context.pendingResponse else {
            response.respond(.internalServerError, body: "an async route needs a server to run on\n")
            return .done
        }
        let owned = request.owned()
        let task = Task(executorPreference: ticket.executor) {
            let answer: Response
            do {
                answer = try await handler(owned)
            } catch {
                answer = HTTPError.response(for: error)
            }
            ticket.respond { $0.respond(answer) }
        }
        ticket.cancelling(task)
        return .pending()
    }
}

enum ResponseText {
    static var plain: UnsafeRawBufferPointer { bytes("text/plain") }
    static var methodNotAllowed: UnsafeRawBufferPointer { bytes("Method Not Allowed\n") }

    @inline(__always)
    static func bytes(_ s: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
    }
}
