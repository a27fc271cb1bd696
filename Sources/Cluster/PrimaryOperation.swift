import URing

/// The `kind` byte of the primary's UserData (URing/UserData.swift has the layout).
enum PrimaryOperation: UInt8 {
    case signal = 1
    case accept = 2       // index: listener number
    case receive = 3      // index: worker slot
    case send = 4         // index: worker slot
    case close = 5
    case acceptRetry = 6  // index: listener number
    case shutdownTimer = 7
    case tick = 8         // the primary's periodic timer (watchdog, deadlines)
    case respawn = 9      // index: worker slot
    case acceptGrace = 10 // shutdown: the listeners' last moment of accepting
    case acceptSweep = 11 // index: listener number; an accept that does not wait
    case acceptCancel = 12 // index: listener number; cancelling its accept or retry timer
    case handoff = 13     // generation: worker serial; index: worker slot << 24 | primary's file slot (a MSG_RING)
    case unavailable = 14 // index 0: a 503's send (UnavailableResponder); 1: its close, failed
    case acknowledgementPoll = 15 // a look at the board while hand-offs await their names
    case wake = 16        // the executor's WakeEvent read: work was sent from another thread
    case drainDelay = 17  // a stop's --drain-delay is over: the graceful shutdown begins
    case proxyPeek = 18   // index: ProxyPeeks slot; a MSG_PEEK recv of a PROXY header
    case proxyPeekRetry = 19 // index: ProxyPeeks slot; the pause before peeking again

    /// The kinds the primary's Acceptor uses.
    static let acceptor = Acceptor.Kinds(accept: accept.rawValue, retry: acceptRetry.rawValue,
                                         sweep: acceptSweep.rawValue, cancel: acceptCancel.rawValue)
}
