import HTTP1

/// What a handler tells the loop once it has written (or not) its response.
public enum HandlerOutcome: Equatable, Sendable {
    /// The response is complete.
    case done
    /// The response is written but must not go out before this many nanoseconds have
    /// passed (a ring timeout, not a sleep: other connections go on meanwhile). Later
    /// pipelined requests on the same connection wait behind it, to keep responses in order.
    case delay(nanoseconds: UInt64)
}

/// Counters of one server process, as `/stats` reports them.
public struct ServerCounters: Sendable, Equatable {
    public var workerID: Int = 0
    public var pid: Int32 = 0
    /// Connections accepted (or adopted) since start.
    public var connections: Int = 0
    /// Connections open now.
    public var active: Int = 0
    /// Requests answered since start.
    public var requests: Int = 0
    /// Requests received and not yet answered (delayed responses waiting for their timer).
    public var inflight: Int = 0
    public init() {}
}

/// What the loop lends a handler besides the request: read-only state of the process.
public struct HandlerContext {
    public let counters: ServerCounters
    public init(counters: ServerCounters) { self.counters = counters }
}

/// Serves requests. The server is generic over its handler, so calls are direct (no
/// existential box per request). `handle` runs on the loop's thread and must not block:
/// use `.delay` to answer later.
public protocol HTTPHandler {
    mutating func handle(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome
}
