import CLiburing

/// One completion, decoded: the caller's `UserData`, and the result in the terms of the
/// operation that produced it. Decoding is a few comparisons on three integers; nothing is
/// allocated. The raw `result` and `flags` stay readable for tests and logs.
public struct Completion: Sendable {
    public let userData: UserData
    /// The kernel's `res`: a count, a descriptor, 0, or `-errno`.
    public let result: Int32
    public let flags: UInt32

    @inline(__always)
    public init(userData: UserData, result: Int32, flags: UInt32) {
        self.userData = userData
        self.result = result
        self.flags = flags
    }

    /// A multishot operation (accept, receive) is still armed after this completion. When
    /// false, it has ended and must be submitted again to go on.
    @inline(__always)
    public var hasMore: Bool { flags & UInt32(IORING_CQE_F_MORE) != 0 }

    /// The error, if the operation failed.
    @inline(__always)
    public var error: Errno? { result < 0 ? Errno(negatedResult: result) : nil }

    /// The provided buffer the kernel filled (a multishot receive), which must be given back.
    @inline(__always)
    public var bufferID: UInt16? {
        flags & UInt32(IORING_CQE_F_BUFFER) != 0
            ? UInt16(truncatingIfNeeded: flags >> IORING_CQE_BUFFER_SHIFT) : nil
    }

    /// For a send, sendmsg, recvmsg or read: the bytes moved, or the error.
    @inline(__always)
    public var transferred: Result<Int, Errno> {
        result >= 0 ? .success(Int(result)) : .failure(Errno(negatedResult: result))
    }

    /// What an accept produced.
    public enum Accepted: Sendable, Equatable {
        case connection(Int32)
        /// Cancelled: the caller stopped accepting.
        case canceled
        case failed(Errno)
    }

    @inline(__always)
    public var accepted: Accepted {
        if result >= 0 { return .connection(result) }
        return result == -ECANCELED ? .canceled : .failed(Errno(negatedResult: result))
    }

    /// What a multishot receive into a buffer ring produced.
    public enum Received: Sendable, Equatable {
        case bytes(bufferID: UInt16, count: Int)
        /// The peer closed its side (a read of 0).
        case endOfInput
        /// The buffer ring was empty; the receive has ended.
        case noBuffers
        case canceled
        case failed(Errno)
    }

    @inline(__always)
    public var received: Received {
        if result > 0, let id = bufferID { return .bytes(bufferID: id, count: Int(result)) }
        switch result {
        case 0: return .endOfInput
        case -ENOBUFS: return .noBuffers
        case -ECANCELED: return .canceled
        default: return .failed(Errno(negatedResult: result > 0 ? -EIO : result))
        }
    }

    /// What a timeout produced: it fired (ETIME, the normal end), was removed, or failed.
    public enum Timer: Sendable, Equatable {
        case fired
        case canceled
        case failed(Errno)
    }

    @inline(__always)
    public var timer: Timer {
        switch result {
        case -ETIME, 0: return .fired
        case -ECANCELED: return .canceled
        default: return .failed(Errno(negatedResult: result))
        }
    }

    /// For a close: whether it succeeded. EBADF is reported as the bug it is
    /// (`reportBadClose`); any other error (EINTR, EIO) still released the descriptor.
    @discardableResult
    public func closed() -> Bool {
        if result == -EBADF { reportBadClose("a close on the ring (\(userData))") }
        return result >= 0
    }
}
