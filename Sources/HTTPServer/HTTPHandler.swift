import HTTP1

/// What a handler tells the loop once it has written (or not) its response.
public enum HandlerOutcome: Equatable, Sendable {
    /// The response is complete.
    case done
    /// The response is written but must not go out before this many nanoseconds have
    /// passed (a ring timeout, not a sleep: other connections go on meanwhile). Later
    /// pipelined requests on the same connection wait behind it, to keep responses in order.
    case delay(nanoseconds: UInt64)
    /// Nothing is written now: the response comes later, through `context.pendingResponse`
    /// (`PendingResponse.respond`), from a task on the loop's executor. If it has not come
    /// within `timeoutNanoseconds` (0: the configuration's `handlerTimeoutNanoseconds`),
    /// the client gets 504 and the task registered with the ticket is cancelled, as it is
    /// when the connection closes first. Later pipelined requests wait behind it.
    case pending(timeoutNanoseconds: UInt64 = 0)
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
    /// Connections closed for want of a valid PROXY header, or from a peer not allowed to send one.
    public var proxyRejects: Int = 0
    public init() {}
}

/// What the loop lends a handler besides the request: read-only state of the process, and
/// the means to answer later.
public struct HandlerContext {
    public let counters: ServerCounters
    /// The loop that dispatched the request (nil for a handler called outside a server,
    /// as the microbenchmarks do). Unowned: the context lives only during the call.
    unowned(unsafe) let host: (any PendingResponseHost)?
    let slot: PendingResponse.Slot

    public init(counters: ServerCounters) {
        self.counters = counters
        host = nil
        slot = PendingResponse.Slot(index: 0, generation: 0, serial: 0)
    }

    init(counters: ServerCounters, host: (any PendingResponseHost)?, slot: PendingResponse.Slot) {
        self.counters = counters
        self.host = host
        self.slot = slot
    }

    /// The ticket for answering this request later; return `.pending` from `handle`.
    /// Nil outside a server.
    public var pendingResponse: PendingResponse? {
        host.map { PendingResponse(host: $0, slot: slot) }
    }
}

/// Serves requests. The server is generic over its handler, so calls are direct (no
/// existential box per request). `handle` runs on the loop's thread and must not block:
/// use `.delay` to answer later.
public protocol HTTPHandler {
    mutating func handle(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome
    /// Whether some requests' bodies may be taken in parts (then `streamsBody` is asked
    /// for each request with a body, before the body is read). Default false.
    var offersBodies: Bool { get }
    /// Whether this request's body goes to its handler in parts as it arrives: `handle` is
    /// then called as soon as the head is read (`request.body` empty), and must return
    /// `.pending` after registering a `RequestBodySink` with its ticket. Default false.
    func streamsBody(_ request: Request) -> Bool
}

extension HTTPHandler {
    public var offersBodies: Bool { false }
    public func streamsBody(_ request: Request) -> Bool { false }
}

/// Takes a streamed request body's parts (`PendingResponse.receiveBody`), on the loop's
/// thread. Each part is valid during the call only; once the consumer has used a part's
/// bytes it calls `PendingResponse.bodyTaken`, which lets more be read (at most the
/// connection's `readAheadBytes` are held untaken).
public protocol RequestBodySink: AnyObject {
    func part(_ bytes: UnsafeRawBufferPointer)
    /// The body is complete.
    func end()
    /// The body will not be complete (the client left, its framing broke, or the answer
    /// came first).
    func cut()
}
