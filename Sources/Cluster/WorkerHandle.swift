import FoundationEssentials
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
    /// This worker's own handlers (Node's `worker.on(...)`).
    var events = EventHandlers()

    init(id: Int) { self.id = id }

    // Node's per-worker events. In the primary they are about this worker; in a worker
    // process, on `Cluster.worker`, only `onMessage` fires (messages from the primary).
    public func onOnline(_ f: @escaping () -> Void) { events.add { _, e in if case .online = e { f() } } }
    public func onListening(_ f: @escaping (UInt16) -> Void) { events.add { _, e in if case .listening(let p) = e { f(p) } } }
    public func onDisconnect(_ f: @escaping () -> Void) { events.add { _, e in if case .disconnect = e { f() } } }
    public func onExit(_ f: @escaping (ExitStatus) -> Void) { events.add { _, e in if case .exit(let s) = e { f(s) } } }
    public func onMessage(_ f: @escaping ([UInt8]) -> Void) { events.add { _, e in if case .message(let b) = e { f(b) } } }

    /// Messages that decode as JSON into `T`; others are left to other handlers.
    public func onMessage<T: Decodable>(_ type: T.Type, _ f: @escaping (T) -> Void) {
        onMessage { bytes in if let value = ClusterMessage.decodeJSON(T.self, bytes) { f(value) } }
    }

    /// Sends `value` encoded as JSON (see `send(_:)` for the limits).
    public func send<T: Encodable>(_ value: T) throws(SystemError) {
        try send(ClusterMessage.json(value))
    }

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

    /// Sends a message with a descriptor (Node's `sendHandle`): an open file, a socket, a
    /// pipe. In the primary, to this worker (`Cluster.onDescriptor` there); in a worker, on
    /// `Cluster.worker`, to the primary (`Cluster.onWorkerDescriptor`). The receiver gets
    /// its own copy; the sender's is closed once the message has gone, so pass one you own.
    /// Errors as for `send(_:)`; the descriptor is closed on any of them.
    public func send(_ bytes: [UInt8], descriptor: Int32) throws(SystemError) {
        do throws(SystemError) {
            try ClusterMessage.checkUserPayload(bytes.count)
            if let channel {
                channel.queuedWithDescriptor.append((ClusterMessage.userFromWorker(bytes).encoded(), descriptor))
                return
            }
            guard let primary, isConnected else {
                throw SystemError("send(worker \(id) is not connected)", Errno(rawValue: ENOTCONN))
            }
            primary.sendUser(bytes, to: self, descriptor: descriptor)
        } catch {
            closeDescriptor(descriptor)
            throw error
        }
    }

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
