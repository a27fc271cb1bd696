import CLiburing
import Glibc

// The typed submissions: every operation this project puts on a ring, with its user_data.
// Nothing above URing touches a submission entry. Each prepares one entry; the kernel
// sees them at the next `submitAndWait` (one system call per loop turn for all of them).
// @inlinable so that a prep stays the handful of stores liburing's inline helpers are.

extension Ring {
    @inlinable @inline(__always)
    func prepare(_ userData: UserData, _ body: (UnsafeMutablePointer<io_uring_sqe>) -> Void) {
        let entry = sqe()
        body(entry)
        io_uring_sqe_set_data64(entry, userData.rawValue)
    }

    /// Multishot accept: one completion per connection (close-on-exec) until an error or a
    /// cancel ends it (`Completion.hasMore` false).
    @inlinable
    public func acceptMultishot(_ listener: Int32, userData: UserData) {
        prepare(userData) { io_uring_prep_multishot_accept($0, listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue)) }
    }

    /// One accept that does not wait (IORING_ACCEPT_DONTWAIT, kernel 6.10): a queued
    /// connection, or EAGAIN at once. For sweeping a listener's queue without touching the
    /// open file's O_NONBLOCK, which every process sharing the listener would see.
    @inlinable
    public func acceptQueued(_ listener: Int32, userData: UserData) {
        prepare(userData) {
            io_uring_prep_accept($0, listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
            $0.pointee.ioprio |= CLiburing_ACCEPT_DONTWAIT()
        }
    }

    /// Multishot receive into the provided buffers of `bufferGroup` (a BufferRing).
    @inlinable
    public func receiveMultishot(_ fd: Int32, bufferGroup: UInt16, userData: UserData) {
        prepare(userData) {
            io_uring_prep_recv_multishot($0, fd, nil, 0, 0)
            $0.pointee.flags |= CLiburing_IOSQE_BUFFER_SELECT()
            $0.pointee.buf_group = bufferGroup
        }
    }

    /// send(2) of `count` bytes (MSG_NOSIGNAL: a closed peer is EPIPE, not a signal). The
    /// bytes must stay in place until the completion.
    @inlinable
    public func send(_ fd: Int32, _ bytes: UnsafeRawPointer, count: Int, userData: UserData) {
        prepare(userData) { io_uring_prep_send($0, fd, bytes, count, Int32(MSG_NOSIGNAL)) }
    }

    /// sendmsg(2) of a prepared MessageBuffer (MSG_NOSIGNAL).
    @inlinable
    public func sendMessage(_ fd: Int32, _ message: MessageBuffer, userData: UserData) {
        prepare(userData) { io_uring_prep_sendmsg($0, fd, message.header, UInt32(MSG_NOSIGNAL)) }
    }

    /// recvmsg(2) into a MessageBuffer; descriptors that arrive are close-on-exec.
    @inlinable
    public func receiveMessage(_ fd: Int32, _ message: MessageBuffer, userData: UserData) {
        message.prepareReceive()
        prepare(userData) { io_uring_prep_recvmsg($0, fd, message.header, UInt32(MSG_CMSG_CLOEXEC)) }
    }

    /// read(2) of up to `count` bytes at the current position.
    @inlinable
    public func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, userData: UserData) {
        prepare(userData) { io_uring_prep_read($0, fd, buffer, UInt32(count), 0) }
    }

    /// A timer of `nanoseconds`: completes with ETIME (`Completion.timer == .fired`).
    ///
    /// The kernel copies the timespec when it takes the entry (io_timeout_prep, inside the
    /// submitting io_uring_enter), and an entry's slot is handed out again only after the
    /// kernel has taken it. So the value lives in a per-slot array here, and no caller
    /// keeps timer memory of its own.
    @inlinable
    public func timeout(nanoseconds: UInt64, userData: UserData) {
        prepare(userData) { entry in
            let slot = entry - ring.pointee.sq.sqes
            timespecs[slot] = __kernel_timespec(tv_sec: Int64(nanoseconds / 1_000_000_000),
                                                tv_nsec: Int64(nanoseconds % 1_000_000_000))
            io_uring_prep_timeout(entry, timespecs + slot, 0, 0)
        }
    }

    /// Removes the timer submitted with `target`: it completes with ECANCELED, and this
    /// with 0 (or ENOENT if it had already fired).
    @inlinable
    public func removeTimeout(_ target: UserData, userData: UserData) {
        prepare(userData) { io_uring_prep_timeout_remove($0, target.rawValue, 0) }
    }

    /// Cancels the operation submitted with `target` (a multishot accept or receive): it
    /// completes with ECANCELED, and this with 0 (or ENOENT if it had already ended).
    @inlinable
    public func cancel(_ target: UserData, userData: UserData) {
        prepare(userData) { io_uring_prep_cancel64($0, target.rawValue, 0) }
    }

    /// close(2) on the ring. Check the completion with `Completion.closed()`.
    @inlinable
    public func close(_ fd: Int32, userData: UserData) {
        prepare(userData) { io_uring_prep_close($0, fd) }
    }
}
