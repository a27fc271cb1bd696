import HTTP1
import URing

/// A ticket for a response that a handler gives later (`HandlerOutcome.pending`): it names
/// the connection, the dispatch it answers, and the loop that owns both.
///
/// Every method must be called on the loop's thread, where a task on `executor` runs; a
/// task that awaits work elsewhere comes back to it before it answers. The ticket is
/// Sendable so that such a task may carry it; it keeps the server unowned, so it must not
/// be used after the server is gone (its tasks are cancelled before then: a stopping loop
/// closes every connection, which abandons their handlers).
public struct PendingResponse: @unchecked Sendable {
    struct Slot: Equatable {
        var index: UInt32
        var generation: UInt32
        var serial: UInt32
    }

    unowned(unsafe) let host: any PendingResponseHost
    let slot: Slot

    init(host: any PendingResponseHost, slot: Slot) {
        self.host = host
        self.slot = slot
    }

    /// The executor of the loop that owns the connection: the one to start the handler's
    /// task on (`Task(executorPreference:)`).
    public var executor: RingExecutor { host.executor }

    /// The loop's awaitable ring operations (files through the ring), for its task.
    public var operations: AwaitedOperations { host.operations }

    /// Writes the response (once) if the request is still awaited: its connection is open
    /// and its deadline has not passed. Returns whether it was written.
    @discardableResult
    public func respond(_ write: (inout ResponseWriter) -> Void) -> Bool {
        precondition(host.executor.isOnLoopThread, "PendingResponse.respond off the loop's thread")
        return host.resume(slot, write)
    }

    /// Registers the task that will answer: it is cancelled if the response is abandoned
    /// (the deadline passed, or the connection closed), at once if that already happened.
    public func cancelling(_ task: Task<Void, Never>) {
        precondition(host.executor.isOnLoopThread, "PendingResponse.cancelling off the loop's thread")
        host.register(task, for: slot)
    }
}

extension PendingResponse {
    /// Whether the handler's own call is still under way (its task has not suspended):
    /// a stream starts only after it returns (`Task.yield()` first).
    public var isInHandlerCall: Bool { host.isInCall(slot) }

    public enum StreamWrite: Equatable, Sendable {
        /// Taken; `full`: more than the connection's bound is unsent, so wait for room
        /// (`waitForRoom`) before writing more.
        case written(full: Bool)
        /// The connection is gone (or the body outgrew its Content-Length): stop.
        case gone
    }

    /// Answers with a head now and a body in parts: `contentLength` when it is known,
    /// else chunked (HTTP/1.1), or delimited by the close (HTTP/1.0). The pieces are as
    /// for `ResponseWriter.respond(_:contentType:headerLines:body:)`. Returns false when
    /// the request is no longer awaited. Not from inside the handler's own call.
    public func startStream(_ status: HTTPStatus, contentType: UnsafeRawBufferPointer, headerLines: UnsafeRawBufferPointer,
                            addedHeaderLines: UnsafeRawBufferPointer, contentLength: Int?) -> Bool {
        precondition(host.executor.isOnLoopThread && !isInHandlerCall, "startStream on the loop, after the handler returned")
        return host.beginStream(slot, status: status, contentType: contentType, headerLines: headerLines,
                                addedLines: addedHeaderLines, contentLength: contentLength)
    }

    /// Appends a part of the body (copied into the connection's output at once).
    public func write(_ bytes: UnsafeRawBufferPointer) -> StreamWrite {
        precondition(host.executor.isOnLoopThread, "PendingResponse.write off the loop's thread")
        return host.writeStream(slot, bytes)
    }

    /// Returns once less than half the connection's bound is unsent; throws
    /// CancellationError when the connection goes first.
    public func waitForRoom() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            host.waitForRoom(slot, c)
        }
    }

    /// The body is complete. False when the connection closed instead (gone already, or a
    /// Content-Length body that came up short).
    @discardableResult
    public func finishStream() -> Bool {
        precondition(host.executor.isOnLoopThread, "PendingResponse.finishStream off the loop's thread")
        return host.endStream(slot)
    }

    /// Where the request's body goes, in parts (for a handler whose `streamsBody` said yes).
    /// Register it during the handler's own call: parts that arrive while there is no sink
    /// are dropped as nobody's. A request no longer awaited cuts the sink at once.
    public func receiveBody(_ sink: any RequestBodySink) {
        precondition(host.executor.isOnLoopThread, "PendingResponse.receiveBody off the loop's thread")
        host.receiveBody(sink, for: slot)
    }

    /// The body's reader used `count` bytes of the parts it was given: more may be read.
    public func bodyTaken(_ count: Int) {
        precondition(host.executor.isOnLoopThread, "PendingResponse.bodyTaken off the loop's thread")
        host.bodyTaken(count, for: slot)
    }

    /// Borrows the connection's descriptor for writing the stream's body itself (a file
    /// spliced from the page cache): returns once every byte written before has been
    /// sent; throws CancellationError when the connection goes first. Until
    /// `returnDescriptor`, nothing else is sent on it and it is not closed (a closing
    /// connection shuts it down, which fails what the borrower has in flight: it must then
    /// give it back promptly). Report progress with `lentProgress`, or the send-stall
    /// timeout closes the connection.
    public func borrowDescriptor() async throws -> Descriptor {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Descriptor, any Error>) in
            host.borrowDescriptor(slot, c)
        }
    }

    /// The borrower put `sent` more bytes of the body on the socket.
    public func lentProgress(sent: Int) {
        precondition(host.executor.isOnLoopThread, "PendingResponse.lentProgress off the loop's thread")
        host.lentProgress(slot, sent: sent)
    }

    /// Gives the borrowed descriptor back (then `finishStream` or `abortStream`).
    public func returnDescriptor() {
        precondition(host.executor.isOnLoopThread, "PendingResponse.returnDescriptor off the loop's thread")
        host.returnDescriptor(slot)
    }

    /// The body cannot be finished (its producer failed): the connection closes, which is
    /// the only way left to tell the client.
    public func abortStream() {
        precondition(host.executor.isOnLoopThread, "PendingResponse.abortStream off the loop's thread")
        host.abortStream(slot)
    }
}

/// What a loop offers its pending responses (HTTPServer). A protocol so that the ticket
/// need not name the server's handler type; called only on the async path.
protocol PendingResponseHost: AnyObject {
    var executor: RingExecutor { get }
    var operations: AwaitedOperations { get }
    func resume(_ slot: PendingResponse.Slot, _ write: (inout ResponseWriter) -> Void) -> Bool
    func register(_ task: Task<Void, Never>, for slot: PendingResponse.Slot)
    func isInCall(_ slot: PendingResponse.Slot) -> Bool
    func beginStream(_ slot: PendingResponse.Slot, status: HTTPStatus, contentType: UnsafeRawBufferPointer,
                     headerLines: UnsafeRawBufferPointer, addedLines: UnsafeRawBufferPointer, contentLength: Int?) -> Bool
    func writeStream(_ slot: PendingResponse.Slot, _ bytes: UnsafeRawBufferPointer) -> PendingResponse.StreamWrite
    func waitForRoom(_ slot: PendingResponse.Slot, _ continuation: CheckedContinuation<Void, any Error>)
    func endStream(_ slot: PendingResponse.Slot) -> Bool
    func abortStream(_ slot: PendingResponse.Slot)
    func borrowDescriptor(_ slot: PendingResponse.Slot, _ continuation: CheckedContinuation<Descriptor, any Error>)
    func lentProgress(_ slot: PendingResponse.Slot, sent: Int)
    func returnDescriptor(_ slot: PendingResponse.Slot)
    func receiveBody(_ sink: any RequestBodySink, for slot: PendingResponse.Slot)
    func bodyTaken(_ count: Int, for slot: PendingResponse.Slot)
}
