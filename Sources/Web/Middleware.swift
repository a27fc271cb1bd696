import HTTP1

/// Code that runs around every request of an application, before its route and after its
/// answer. Middleware compose generically (`Chain`, `then`), so an application's chain is
/// one concrete type and each hook a direct call: no existential, no allocation per request.
///
/// Write your own by conforming a `Sendable` struct and giving either hook:
///
///     struct RequireKey: Middleware {
///         func receive(_ request: HTTPRequest, _ response: inout ResponseWriter) -> Bool {
///             guard request.header("x-api-key") != "secret" else { return false }
///             response.respond(.unauthorized, body: "a key is needed\n")
///             return true          // answered: the route is not called
///         }
///     }
///     let app = Application(router: router, middleware: RequestLog(logger).then(RequireKey()))
///
/// `receive` runs first to last, before the route is looked up (so a CORS preflight is
/// answered before a 405); `completed` runs last to first, once the answer is written: in
/// the same call for a synchronous route, when an async route's task returns.
public protocol Middleware: Sendable {
    /// Before the route. Answer here (write `response`, return true) to stop the request,
    /// or add fields to whatever the route answers (`response.addedHeaderLines`) and
    /// return false. Runs on the loop's thread; must not block.
    func receive(_ request: HTTPRequest, _ response: inout ResponseWriter) -> Bool
    /// After the answer is written.
    func completed(_ request: CompletedRequest)
    /// Whether `completed` needs the request's timing (two clock reads per request).
    var measuresTime: Bool { get }
}

extension Middleware {
    public func receive(_ request: HTTPRequest, _ response: inout ResponseWriter) -> Bool { false }
    public func completed(_ request: CompletedRequest) {}
    public var measuresTime: Bool { false }

    /// This middleware, then `next`.
    public func then<Next: Middleware>(_ next: Next) -> Chain<Self, Next> { Chain(self, next) }
}

/// What a middleware learns of a request once it is answered.
public struct CompletedRequest {
    /// The request (a view for a synchronous route; the owned copy for an async one).
    public let request: HTTPRequest
    /// The status answered; 0 when the handler's answer came too late to be sent (the
    /// server answered 504 at its deadline, or the client had left).
    public let status: Int
    /// The body's bytes (0 for HEAD's answer too, as it carries none).
    public let bodyBytes: Int
    /// CLOCK_MONOTONIC when the request was dispatched and when its answer was written;
    /// both 0 unless a middleware `measuresTime`.
    public let startNanoseconds: UInt64
    public let endNanoseconds: UInt64

    public var durationNanoseconds: UInt64 { endNanoseconds &- startNanoseconds }
}

/// No middleware at all: an application without any pays nothing.
public struct NoMiddleware: Middleware {
    public init() {}
}

/// Two middleware in order: `first` receives first and completes last.
public struct Chain<First: Middleware, Second: Middleware>: Middleware {
    public let first: First
    public let second: Second

    public init(_ first: First, _ second: Second) {
        self.first = first
        self.second = second
    }

    @inline(__always)
    public func receive(_ request: HTTPRequest, _ response: inout ResponseWriter) -> Bool {
        first.receive(request, &response) || second.receive(request, &response)
    }

    @inline(__always)
    public func completed(_ request: CompletedRequest) {
        second.completed(request)
        first.completed(request)
    }

    public var measuresTime: Bool { first.measuresTime || second.measuresTime }
}
