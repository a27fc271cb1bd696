/// What happens to a worker, as Node's `cluster` and `Worker` emit it. The primary emits
/// each one to the worker's own handlers first, then to the cluster's (Node's order).
public enum WorkerEvent: Sendable {
    case fork
    case online
    case listening(port: UInt16)
    case disconnect
    case exit(ExitStatus)
    case message([UInt8])
}

/// Handlers of events, each told the worker it is about.
struct EventHandlers {
    var handlers: [(Worker, WorkerEvent) -> Void] = []

    mutating func add(_ f: @escaping (Worker, WorkerEvent) -> Void) { handlers.append(f) }

    func emit(_ event: WorkerEvent, _ worker: Worker) {
        for h in handlers { h(worker, event) }
    }
}
