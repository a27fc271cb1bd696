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
}
