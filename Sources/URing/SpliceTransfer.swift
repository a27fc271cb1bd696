import Glibc

/// One file body sent to a socket with splice(2) through a pipe, as a pure machine: the
/// loop performs each action on the ring and feeds back its result.
///
/// Why a pipe: splice moves pages, never copies them, but one end must be a pipe. File →
/// pipe runs on io-wq (io_uring always punts splice there) and blocks until the pipe holds
/// what was asked or the file ends. Pipe → socket is issued with SPLICE_F_NONBLOCK: a full
/// socket buffer answers EAGAIN at once instead of parking an io-wq thread on a slow
/// client, and the connection then polls for POLLOUT. The two steps are not linked: a
/// short splice would cut a link, and short sends are the normal case on a socket.
///
/// A file that shrinks while it is sent cannot honour the Content-Length already written:
/// the transfer fails and the connection must close. After any failure the pipe may hold
/// bytes, so it must be discarded, not reused (`pipeIsEmpty`).
public struct SpliceTransfer: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// splice(file, offset → pipe, length).
        case fill(offset: Int64, length: Int)
        /// splice(pipe → socket, length), non-blocking.
        case drain(length: Int)
        /// Poll the socket for POLLOUT, then call `writable()`.
        case waitWritable
        /// Every byte is on the socket.
        case done
        /// Close the connection: `errno` from a splice, or nil when the file ended early.
        case fail(errno: Int32?)
    }

    /// Bytes still to move from the file into the pipe.
    public private(set) var unread: Int
    /// Bytes in the pipe, not yet on the socket.
    public private(set) var inPipe = 0
    /// Bytes on the socket so far.
    public private(set) var sent = 0
    /// The file offset of the next fill.
    public private(set) var offset: Int64
    public private(set) var finished = false
    let pipeCapacity: Int
    /// The next fill's size: it starts small, so the first bytes reach the socket soon,
    /// and doubles up to the pipe's capacity, so a large file costs few io-wq steps.
    var fillSize: Int
    /// What the fill in flight asked for.
    var asked = 0

    /// `count` bytes of the file from `offset`, through a pipe of `pipeCapacity` bytes
    /// (F_GETPIPE_SZ; a fill never asks for more, so it never blocks on a full pipe).
    public init(offset: Int64, count: Int, pipeCapacity: Int, firstFill: Int = 64 * 1024) {
        precondition(count >= 0 && pipeCapacity > 0 && firstFill > 0)
        self.offset = offset
        self.unread = count
        self.pipeCapacity = pipeCapacity
        fillSize = min(firstFill, pipeCapacity)
    }

    public var pipeIsEmpty: Bool { inPipe == 0 }

    public mutating func start() -> Action {
        next()
    }

    /// A fill completed with `result` (bytes, or -errno).
    public mutating func filled(_ result: Int32) -> Action {
        guard !finished else { return .done }
        if result < 0 { return fail(-result) }
        // 0: the file ended before the count; more than asked cannot happen, and is taken
        // as the same broken promise.
        guard result > 0, Int(result) <= asked else { return fail(nil) }
        fillSize = min(pipeCapacity, fillSize * 2)
        unread -= Int(result)
        offset += Int64(result)
        inPipe += Int(result)
        return .drain(length: inPipe)
    }

    /// A drain completed with `result` (bytes, -EAGAIN, or another -errno).
    public mutating func drained(_ result: Int32) -> Action {
        guard !finished else { return .done }
        if result == -EAGAIN { return .waitWritable }
        if result < 0 { return fail(-result) }
        // 0 from a pipe we know holds bytes: nothing sensible to retry.
        guard result > 0, Int(result) <= inPipe else { return fail(nil) }
        inPipe -= Int(result)
        sent += Int(result)
        // Less than offered: the socket is full (a non-blocking drain stops there). Polling
        // now, in the kernel, costs less than another drain on io-wq answering EAGAIN.
        if inPipe > 0 { return .waitWritable }
        return next()
    }

    /// The socket has room again (the poll completed; an error there also lands here, and
    /// the drain that follows reports it).
    public mutating func writable() -> Action {
        guard !finished else { return .done }
        return inPipe > 0 ? .drain(length: inPipe) : next()
    }

    mutating func next() -> Action {
        if inPipe > 0 { return .drain(length: inPipe) }
        if unread > 0 {
            asked = min(unread, fillSize)
            return .fill(offset: offset, length: asked)
        }
        finished = true
        return .done
    }

    mutating func fail(_ errno: Int32?) -> Action {
        finished = true
        return .fail(errno: errno)
    }
}
