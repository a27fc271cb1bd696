import HTTP1
import HTTPServer
import URing

/// An application: a router, and the middleware around it, served as an `HTTPHandler` by
/// one server (`HTTPServer(configuration:handler:)`) or by every worker of a cluster
/// (`cluster.serve(application, port:)`).
///
/// A synchronous route runs in the handler call. An async route's request is copied
/// (`HTTPRequest.owned()`) and its handler started at once, on this thread: one that never
/// suspends answers within the call; one that does resumes on the loop's executor, and its
/// response is written when it returns, in order with the connection's other responses.
/// If it has not returned by the server's `handlerTimeoutNanoseconds`, the client gets 504
/// and the task is cancelled, as it is when the client goes away first. An error a handler
/// throws becomes its response (`HTTPError`: its status; anything else: 500).
public struct Application<M: Middleware>: HTTPHandler, Sendable {
    let routes: FrozenRoutes
    public let middleware: M

    public init(router: Router, middleware: M) {
        routes = router.table.frozen()
        self.middleware = middleware
        offersBodies = routes.routes.contains { if case .streamingBody = $0.handler { return true }; return false }
    }

    /// Whether any route takes its body in parts.
    public let offersBodies: Bool

    public func streamsBody(_ request: Request) -> Bool {
        guard case .route(let index, _) = routes.match(method: request.method, path: request.path,
                                                       pathOffset: request.head.path.lowerBound),
              case .streamingBody = routes.routes[index].handler else { return false }
        return true
    }

    public mutating func handle(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome {
        let timed = middleware.measuresTime
        let start = timed ? monotonicNanoseconds() : 0
        var view = HTTPRequest(request, parameters: RouteParameters())
        if middleware.receive(view, &response) {
            finish(view, response, start: start, timed: timed)
            return .done
        }
        switch routes.match(method: request.method, path: request.path, pathOffset: request.head.path.lowerBound) {
        case .route(let index, let parameters):
            view.parameters = parameters
            switch routes.routes[index].handler {
            case .sync(let handler):
                do {
                    try handler(view, &response)
                } catch {
                    if !response.hasResponded { response.respond(HTTPError.response(for: error)) }
                }
            case .async(let handler):
                return startTask(handler, view, &response, context, start: start, timed: timed)
            case .streamingBody(let handler):
                guard let ticket = context.pendingResponse else {
                    response.respond(.internalServerError, body: "a streaming route needs a server to run on\n")
                    return .done
                }
                let body = RequestBody(ticket: ticket)
                ticket.receiveBody(body)
                return startTask({ request in try await handler(request, body) }, view, &response, context,
                                 start: start, timed: timed)
            }
        case .methodNotAllowed(let allowed):
            FrozenRoutes.withAllowLine(allowed) { allow in
                response.respond(.methodNotAllowed, contentType: ResponseText.plain, headerLines: allow,
                                 body: ResponseText.methodNotAllowed)
            }
        case .notFound:
            response.respond(.notFound, body: "Not Found\n")
        }
        finish(view, response, start: start, timed: timed)
        return .done
    }

    @inline(__always)
    func finish(_ request: HTTPRequest, _ response: ResponseWriter, start: UInt64, timed: Bool) {
        middleware.completed(CompletedRequest(request: request, status: response.statusCode, bodyBytes: response.bodyCount,
                                              startNanoseconds: start, endNanoseconds: timed ? monotonicNanoseconds() : 0))
    }

    /// Starts an async handler's task; its answer comes through the pending response.
    func startTask(_ handler: @escaping @Sendable (HTTPRequest) async throws -> Response, _ request: HTTPRequest,
               _ response: inout ResponseWriter, _ context: HandlerContext, start: UInt64, timed: Bool) -> HandlerOutcome {
        guard let ticket = context.pendingResponse else {
            response.respond(.internalServerError, body: "an async route needs a server to run on\n")
            return .done
        }
        let owned = request.owned()
        // Copied: a middleware's lines need only live until the call's own answer.
        let added = Array(response.addedHeaderLines)
        let app = self
        // Immediate: the handler runs now, on this thread, until it first suspends; one
        // that never does answers within this call, with no trip through the executor.
        // After a suspension it resumes on the loop's executor.
        let task = Task.immediate(executorPreference: ticket.executor) {
            let answer: Response
            do {
                answer = try await handler(owned)
            } catch {
                answer = HTTPError.response(for: error)
            }
            if let produce = answer.stream {
                await app.stream(answer, produce, owned, ticket, added, start: start, timed: timed)
                return
            }
            app.deliver(answer, owned, ticket, added, start: start, timed: timed)
        }
        ticket.cancelling(task)
        return .pending()
    }

    /// Writes an async handler's answer, or tells the middleware it came too late. Not
    /// async, so that its locals stay out of the task's frame: inline in the task, this
    /// cost two more allocations per request (8 against 6, measured).
    func deliver(_ answer: Response, _ request: HTTPRequest, _ ticket: PendingResponse, _ added: [UInt8],
                 start: UInt64, timed: Bool) {
        let written = ticket.respond { writer in
            added.withUnsafeBytes { lines in
                writer.addedHeaderLines = lines
                writer.respond(answer)
                writer.addedHeaderLines = UnsafeRawBufferPointer(start: nil, count: 0)
            }
            finish(request, writer, start: start, timed: timed)
        }
        if !written {
            // Abandoned before it answered (its deadline's 504, or the client left): the
            // middleware still hears of it, with status 0.
            middleware.completed(CompletedRequest(request: request, status: 0, bodyBytes: 0, startNanoseconds: start,
                                                  endNanoseconds: timed ? monotonicNanoseconds() : 0))
        }
    }
}

extension Application {
    /// Writes a streamed answer: its head, then each part its producer gives.
    func stream(_ answer: Response, _ produce: @Sendable (BodyWriter) async throws -> Void, _ request: HTTPRequest,
                _ ticket: PendingResponse, _ added: [UInt8], start: UInt64, timed: Bool) async {
        // A stream starts after the handler's call has returned (the connection's answer
        // is then awaited): a producer that did not suspend yet yields once.
        if ticket.isInHandlerCall { await Task.yield() }
        var contentType = answer.contentType
        let started = contentType.withUTF8 { type in
            answer.headers.bytes.withUnsafeBytes { lines in
                added.withUnsafeBytes { addedLines in
                    ticket.startStream(answer.status, contentType: UnsafeRawBufferPointer(type), headerLines: lines,
                                       addedHeaderLines: addedLines, contentLength: answer.streamLength)
                }
            }
        }
        guard started else { return }
        var ok = true
        let writer = BodyWriter(ticket: ticket)
        do {
            try await produce(writer)
            ok = ticket.finishStream()
        } catch {
            ticket.abortStream()
            ok = false
        }
        middleware.completed(CompletedRequest(request: request, status: ok ? answer.status.code : 0,
                                              bodyBytes: writer.written.bytes,
                                              startNanoseconds: start, endNanoseconds: timed ? monotonicNanoseconds() : 0))
    }
}

extension Application where M == NoMiddleware {
    public init(router: Router) {
        self.init(router: router, middleware: NoMiddleware())
    }
}

enum ResponseText {
    static var plain: UnsafeRawBufferPointer { ResponseWriter.bytes("text/plain") }
    static var methodNotAllowed: UnsafeRawBufferPointer { ResponseWriter.bytes("Method Not Allowed\n") }
}
