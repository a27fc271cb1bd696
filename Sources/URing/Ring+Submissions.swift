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

    /// Prepares an entry on `file`: a direct descriptor is a fixed-file operation.
    @inlinable @inline(__always)
    func prepare(_ userData: UserData, on file: Descriptor, _ body: (UnsafeMutablePointer<io_uring_sqe>) -> Void) {
        prepare(userData) { entry in
            body(entry)
            if file.isDirect { entry.pointee.flags |= CLiburing_IOSQE_FIXED_FILE() }
        }
    }

    /// Multishot accept: one completion per connection until an error or a cancel ends it
    /// (`Completion.hasMore` false). `direct`: each connection goes into a free slot of the
    /// ring's file table (`registerFileTable`), and the completion's result is that slot
    /// (ENFILE once the table is full); otherwise it is a close-on-exec process descriptor.
    ///
    /// Every connection is O_NONBLOCK (`Socket.acceptFlags`). io_uring's own sends and
    /// receives wait by polling either way; what needs it is a splice to the socket, which
    /// adds MSG_DONTWAIT only for an O_NONBLOCK file (fs/splice.c, splice_to_socket):
    /// without it, a drain to a slow client parks an io-wq thread until TCP takes it all.
    /// The flag belongs to the open file, so it travels with a hand-off.
    @inlinable
    public func acceptMultishot(_ listener: Int32, direct: Bool = false, userData: UserData) {
        prepare(userData) {
            if direct {
                io_uring_prep_multishot_accept_direct($0, listener, nil, nil, Socket.acceptFlags)
            } else {
                io_uring_prep_multishot_accept($0, listener, nil, nil, Socket.acceptFlags | Int32(SOCK_CLOEXEC.rawValue))
            }
        }
    }

    /// One accept that does not wait (IORING_ACCEPT_DONTWAIT, kernel 6.10): a queued
    /// connection, or EAGAIN at once. For sweeping a listener's queue without touching the
    /// open file's O_NONBLOCK, which every process sharing the listener would see.
    /// `direct` as for `acceptMultishot`.
    @inlinable
    public func acceptQueued(_ listener: Int32, direct: Bool = false, userData: UserData) {
        prepare(userData) {
            if direct {
                // liburing stores file_index + 1 (0 means "not direct"): ALLOC - 1 asks
                // the kernel to allocate, as io_uring_prep_multishot_accept_direct does.
                io_uring_prep_accept_direct($0, listener, nil, nil, Socket.acceptFlags, IORING_FILE_INDEX_ALLOC - 1)
            } else {
                io_uring_prep_accept($0, listener, nil, nil, Socket.acceptFlags | Int32(SOCK_CLOEXEC.rawValue))
            }
            $0.pointee.ioprio |= CLiburing_ACCEPT_DONTWAIT()
        }
    }

    /// Multishot receive into the provided buffers of `bufferGroup` (a BufferRing).
    @inlinable
    public func receiveMultishot(_ file: Descriptor, bufferGroup: UInt16, userData: UserData) {
        prepare(userData, on: file) {
            io_uring_prep_recv_multishot($0, file.value, nil, 0, 0)
            $0.pointee.flags |= CLiburing_IOSQE_BUFFER_SELECT()
            $0.pointee.buf_group = bufferGroup
        }
    }

    /// send(2) of `count` bytes (MSG_NOSIGNAL: a closed peer is EPIPE, not a signal). The
    /// bytes must stay in place until the completion. `thenClose`: the descriptor is closed
    /// right after, whatever the send's outcome (a hard link), and the close posts a
    /// completion only if it fails.
    @inlinable
    public func send(_ file: Descriptor, _ bytes: UnsafeRawPointer, count: Int, userData: UserData,
                     thenClose: Bool = false, closeUserData: UserData = UserData(rawValue: 0)) {
        prepare(userData, on: file) {
            io_uring_prep_send($0, file.value, bytes, count, Int32(MSG_NOSIGNAL))
            if thenClose { $0.pointee.flags |= CLiburing_IOSQE_IO_HARDLINK() }
        }
        if thenClose { close(file, userData: closeUserData, quietOnSuccess: true) }
    }

    /// send(2) on a process descriptor.
    @inlinable
    public func send(_ fd: Int32, _ bytes: UnsafeRawPointer, count: Int, userData: UserData) {
        send(Descriptor(process: fd), bytes, count: count, userData: userData)
    }

    /// shutdown(2) on the ring (the only form a direct descriptor has). The kernel runs it
    /// on a worker thread, so it is for the rare paths, never per request; and it looks the
    /// direct descriptor up only there, so the slot must not be closed (and perhaps reused)
    /// before this completes.
    @inlinable
    public func shutdown(_ file: Descriptor, writeOnly: Bool, userData: UserData) {
        prepare(userData, on: file) {
            io_uring_prep_shutdown($0, file.value, Int32(writeOnly ? SHUT_WR : SHUT_RDWR))
        }
    }

    /// Hands the direct descriptor `slot` of this ring to another ring (IORING_OP_MSG_RING,
    /// IORING_MSG_SEND_FD; kernel 6.0): the target ring gets its own reference in a free
    /// slot of its file table, and a completion with `targetUserData` whose result is that
    /// slot. `targetRing` is the target ring's descriptor in this process (from another
    /// process: `ProcessControl.takeDescriptor`). This ring's completion comes once the
    /// descriptor is installed there: 0, or the error (ENFILE: the target's table is full;
    /// EOWNERDEAD, EBADFD: the target ring is gone). This ring keeps its own slot.
    /// `quietOnSuccess`: only a failure completes here (the owner learns of success from
    /// the target's side, and is not woken for it).
    @inlinable
    public func sendDescriptor(_ slot: Int32, toRing targetRing: Int32, targetUserData: UserData, userData: UserData,
                               quietOnSuccess: Bool = false) {
        prepare(userData) {
            CLiburing_prep_msg_ring_send_fd($0, targetRing, UInt32(bitPattern: slot), targetUserData.rawValue)
            if quietOnSuccess { $0.pointee.flags |= CLiburing_IOSQE_CQE_SKIP_SUCCESS() }
        }
    }

    /// The socket's peer address, getsockopt(SOL_SOCKET, SO_PEERNAME) on the ring: a
    /// socket's IORING_OP_URING_CMD with SOCKET_URING_OP_GETSOCKOPT (kernel 6.7), the only
    /// way to ask it of a direct descriptor. `length` bytes are written to `address`; the
    /// result is that length, or -EINVAL when the address is shorter than `length` (the
    /// kernel refuses a buffer larger than the address: 16 bytes fit IPv4, 28 IPv6), or
    /// -EOPNOTSUPP on an older kernel. A socket's command completes at its submission,
    /// never later, so `address` is written before anything submitted after it runs.
    @inlinable
    public func peerName(_ file: Descriptor, into address: UnsafeMutableRawPointer, length: UInt32, userData: UserData) {
        prepare(userData, on: file) {
            io_uring_prep_rw(Int32(IORING_OP_URING_CMD.rawValue), $0, file.value, nil, 0, 0)
            // The socket command's fields share the entry's unions (linux/io_uring.h, 6.7):
            // cmd_op is the low half of `off`, level and optname are `addr`'s halves,
            // optlen is `file_index`, optval is `addr3`.
            $0.pointee.off = UInt64(Self.socketGetSockOpt)
            $0.pointee.addr = UInt64(UInt32(SOL_SOCKET)) | UInt64(UInt32(SO_PEERNAME)) << 32
            $0.pointee.file_index = length
            $0.pointee.addr3 = UInt64(UInt(bitPattern: address))
        }
    }

    /// SOCKET_URING_OP_GETSOCKOPT (linux/io_uring.h from 6.7; Debian 12's header predates it).
    @usableFromInline static var socketGetSockOpt: UInt32 { 2 }

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

    /// recv(2) with MSG_PEEK: up to `count` of the bytes waiting, left in the socket for
    /// whoever reads it next. Completes once some bytes are there (the ring polls).
    @inlinable
    public func peek(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, userData: UserData) {
        prepare(userData) { io_uring_prep_recv($0, fd, buffer, count, Int32(MSG_PEEK)) }
    }

    /// write(2) of `count` bytes at the file's position (offset -1: with O_APPEND, its end).
    @inlinable
    public func write(_ fd: Int32, _ bytes: UnsafeRawPointer, count: Int, userData: UserData) {
        prepare(userData) { io_uring_prep_write($0, fd, bytes, UInt32(count), UInt64.max) }
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

    /// close(2) on the ring, or the release of a direct descriptor's slot. Check the
    /// completion with `Completion.closed()`. `quietOnSuccess`: a completion only on failure.
    @inlinable
    public func close(_ file: Descriptor, userData: UserData, quietOnSuccess: Bool = false) {
        prepare(userData) {
            if file.isDirect {
                io_uring_prep_close_direct($0, UInt32(bitPattern: file.value))
            } else {
                io_uring_prep_close($0, file.value)
            }
            if quietOnSuccess { $0.pointee.flags |= CLiburing_IOSQE_CQE_SKIP_SUCCESS() }
        }
    }

    /// close(2) of a process descriptor on the ring.
    @inlinable
    public func close(_ fd: Int32, userData: UserData) {
        close(Descriptor(process: fd), userData: userData)
    }
}
