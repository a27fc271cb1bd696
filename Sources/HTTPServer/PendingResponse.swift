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

/// What a loop offers its pending responses (HTTPServer). A protocol so that the ticket
/// need not name the server's handler type; called only on the async path.
protocol PendingResponseHost: AnyObject {
    var executor: RingExecutor { get }
    func resume(_ slot: PendingResponse.Slot, _ write: (inout ResponseWriter) -> Void) -> Bool
    func register(_ task: Task<Void, Never>, for slot: PendingResponse.Slot)
}
