import Glibc
import URing

/// A worker as the primary's code sees it (Node's `Worker`): its id, its process, and the
/// calls that act on it. The primary's event loop owns the bookkeeping behind it.
public final class Worker: @unchecked Sendable {
    /// 1-based slot number; a replacement of a dead worker would reuse it.
    public let id: Int
    public internal(set) var pid: Int32 = 0
    /// The process has exited.
    public internal(set) var isDead = false
    /// The worker left because it was asked to (disconnect() or kill()), not by accident.
    public internal(set) var exitedAfterDisconnect = false
    /// Its channel is connected (false after disconnect or exit).
    public internal(set) var isConnected = false
    weak var primary: Primary?
    /// In a worker process, `Cluster.worker` (this process itself): its channel to the primary.
    weak var channel: WorkerChannel?

    init(id: Int) { self.id = id }

    /// Sends a user message: in the primary, to this worker (its `onMessage` receives it);
    /// in a worker, on `Cluster.worker`, to the primary (as Node's `process.send`). Works
    /// from the first moment, `onFork` included: a worker receives what was sent before it
    /// started serving once it does.
    /// Throws EMSGSIZE for a message above `ClusterMessage.maxUserPayload` bytes, and
    /// ENOTCONN when the worker has disconnected or exited.
    public func send(_ bytes: [UInt8]) throws(SystemError) {
        try ClusterMessage.checkUserPayload(bytes.count)
        if let channel {
            channel.send(bytes)
            return
        }
        guard let primary, isConnected else { throw SystemError("send(worker \(id) is not connected)", Errno(rawValue: ENOTCONN)) }
        primary.sendUser(bytes, to: self)
    }

    public func send(_ text: String) throws(SystemError) { try send(Array(text.utf8)) }

    /// Asks the worker to finish and exit: its channel is closed, so it stops once its
    /// loop sees the end of the channel.
    public func disconnect() {
        exitedAfterDisconnect = true
        primary?.disconnect(self)
    }

    /// Sends a signal to the worker's process (SIGTERM by default).
    public func kill(_ signal: Int32 = SIGTERM) {
        exitedAfterDisconnect = true
        if !isDead && pid > 0 { ProcessControl.signal(pid, signal) }
    }
}

/// How a worker process ended.
public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32)

    init(waitStatus s: Int32) {
        if s & 0x7f == 0 { self = .exited(code: (s >> 8) & 0xff) } else { self = .signaled(signal: s & 0x7f) }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with code \(code)"
        case .signaled(let signal): return "killed by signal \(signal) (\(String(cString: strsignal(signal))))"
        }
    }
}
