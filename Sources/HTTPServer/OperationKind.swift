import URing

/// The `kind` byte of a `UserData` (see URing/UserData.swift for the layout) for the
/// operations an HTTP server loop submits. 0 stays unused so a zeroed user_data is never valid.
enum OperationKind: UInt8 {
    case accept = 1        // index: listener slot
    case receive = 2       // index: connection slot
    case send = 3          // index: connection slot
    case close = 4         // index: connection slot
    case cancel = 5        // index: connection slot
    case tick = 6          // the loop's periodic timer
    case delay = 7         // index: connection slot (a HandlerOutcome.delay)
    case acceptRetry = 8   // index: listener slot; the back-off after an accept error
    case acceptSweep = 9   // index: listener slot; an accept that does not wait (drain)
    case acceptCancel = 10 // index: listener slot; cancelling its accept or retry timer
    case unavailable = 11  // index 0: a 503's send (UnavailableResponder); 1: its close, failed
    case shutdown = 12     // index: connection slot; a shutdown on the ring (direct descriptors)
    case wake = 13         // the executor's WakeEvent read: jobs were enqueued from another thread
    case peerName = 14     // index: connection slot; getsockopt(SO_PEERNAME) on the ring
    case awaited = 15      // index: a slot of the loop's AwaitedOperations (a task's file I/O)
    case accessLogWrite = 16   // the access log's write of a turn's lines
    case accessLogSignal = 17  // the access log's SIGUSR1 read (reopen)

    /// The kinds the loop's Acceptor uses.
    static let acceptor = Acceptor.Kinds(accept: accept.rawValue, retry: acceptRetry.rawValue,
                                         sweep: acceptSweep.rawValue, cancel: acceptCancel.rawValue)
}
