import CLiburing
import Glibc

// Files through the ring, for a task that awaits each step (AwaitedOperations): open
// beneath a directory, the status of an open file, a read at an offset, a close, the two
// splices of a file sent through a pipe, and a wait for a socket's room; and the pipe
// itself. Each keeps what the kernel reads or writes (the path, the open_how, the statx
// buffer) in memory of its own until the completion.
//
// Where each runs (Linux 6.x): openat2 first tries a lookup that needs no I/O
// (LOOKUP_CACHED) inline and goes to an io-wq thread only on a miss; statx always goes to
// io-wq; a read of cached pages completes inline; a close is inline.

/// What a file server needs of statx.
public struct FileStatus: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case regular, directory, other }
    public var kind: Kind
    public var size: Int
    public var inode: UInt64
    public var modifiedSeconds: Int64
    public var modifiedNanoseconds: UInt32

    public init(kind: Kind, size: Int, inode: UInt64, modifiedSeconds: Int64, modifiedNanoseconds: UInt32) {
        self.kind = kind
        self.size = size
        self.inode = inode
        self.modifiedSeconds = modifiedSeconds
        self.modifiedNanoseconds = modifiedNanoseconds
    }

    init(_ s: statx) {
        // S_IFMT, S_IFREG and S_IFDIR by value: both Glibc and the kernel's header define them.
        switch UInt32(s.stx_mode) & 0o170000 {
        case 0o100000: kind = .regular
        case 0o040000: kind = .directory
        default: kind = .other
        }
        size = Int(clamping: s.stx_size)
        inode = s.stx_ino
        modifiedSeconds = s.stx_mtime.tv_sec
        modifiedNanoseconds = s.stx_mtime.tv_nsec
    }
}

extension AwaitedOperations {
    /// openat2(directory, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY) resolved with
    /// RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: no step of the walk, `..` or a symlink's
    /// target, may leave `directory`, even if the tree changes during the walk (the
    /// kernel checks each step; a symlink swapped in after any check of ours is still
    /// held to it). EXDEV when the path would leave it.
    ///
    /// O_NONBLOCK: opening a FIFO (or a device) that a request names must not park an io-wq
    /// thread. Clear it (`Socket.clearNonBlocking`) once statx says the file is regular: on a
    /// filesystem that cannot read without blocking (FUSE, 9p), io_uring would answer a
    /// read of uncached pages EAGAIN instead of queuing it to io-wq (io_uring/rw.c).
    ///
    /// `path` is relative, not empty, without a NUL; the returned descriptor is the process's.
    public func open(_ path: [UInt8], beneath directory: Int32) async -> Result<Int32, Errno> {
        let name = UnsafeMutablePointer<CChar>.allocate(capacity: path.count + 1)
        defer { name.deallocate() }
        path.withUnsafeBytes { UnsafeMutableRawPointer(name).copyMemory(from: $0.baseAddress!, byteCount: path.count) }
        name[path.count] = 0
        let how = UnsafeMutablePointer<open_how>.allocate(capacity: 1)
        defer { how.deallocate() }
        how.initialize(to: open_how())
        how.pointee.flags = UInt64(O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        how.pointee.resolve = UInt64(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
        let result = await perform { ring, userData in
            ring.prepare(userData) { io_uring_prep_openat2($0, directory, name, how) }
        }
        return result >= 0 ? .success(result) : .failure(Errno(negatedResult: result))
    }

    /// statx of an open descriptor (AT_EMPTY_PATH): its type, size, inode and mtime.
    public func status(of fd: Int32) async -> Result<FileStatus, Errno> {
        let buffer = UnsafeMutablePointer<statx>.allocate(capacity: 1)
        defer { buffer.deallocate() }
        buffer.initialize(to: statx())
        let result = await perform { ring, userData in
            ring.prepare(userData) {
                io_uring_prep_statx($0, fd, FileOperationsConstants.emptyPath, CLiburing_AT_EMPTY_PATH(),
                                    UInt32(STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_INO | STATX_MTIME), buffer)
            }
        }
        return result >= 0 ? .success(FileStatus(buffer.pointee)) : .failure(Errno(negatedResult: result))
    }

    /// pread of up to `count` bytes at `offset` into `buffer`, which must stay alive until
    /// this returns (it does: the caller awaits it).
    public func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int64) async -> Result<Int, Errno> {
        let result = await perform { ring, userData in
            ring.prepare(userData) { io_uring_prep_read($0, fd, buffer, UInt32(clamping: count), UInt64(offset)) }
        }
        return result >= 0 ? .success(Int(result)) : .failure(Errno(negatedResult: result))
    }

    /// close(2) on the ring. EBADF would be a bug of ours; other errors lose nothing of a
    /// file opened only for reading.
    public func close(_ fd: Int32) async {
        let result = await perform { ring, userData in ring.close(fd, userData: userData) }
        if result == -EBADF { reportBadClose("a file opened on the ring (fd \(fd))") }
    }
}

enum FileOperationsConstants {
    /// statx's path for AT_EMPTY_PATH: the kernel reads it at submission, so it must be
    /// static, not a temporary.
    nonisolated(unsafe) static let emptyPath: UnsafePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        p.pointee = 0
        return UnsafePointer(p)
    }()
}

extension AwaitedOperations {
    /// splice(2) of up to `count` bytes of `file` from `offset` into a pipe's write end. On
    /// io-wq (io_uring punts every splice), where it waits for the pages to be read in; it
    /// moves page references, never copies. Ask for no more than the pipe's free room, or it
    /// blocks that worker until the pipe drains.
    public func splice(_ file: Int32, at offset: Int64, into pipe: Int32, count: Int) async -> Int32 {
        await perform { ring, userData in
            ring.prepare(userData) { io_uring_prep_splice($0, file, offset, pipe, -1, UInt32(clamping: count), 0) }
        }
    }

    /// splice(2) of up to `count` bytes from a pipe's read end to a socket (a direct
    /// descriptor too: IOSQE_FIXED_FILE names the output), SPLICE_F_NONBLOCK: a full
    /// socket answers -EAGAIN at once rather than parking an io-wq thread on a slow
    /// client. To TCP the pages are attached to the packets (MSG_SPLICE_PAGES, Linux 6.5).
    public func splice(from pipe: Int32, to socket: Descriptor, count: Int) async -> Int32 {
        await perform { ring, userData in
            ring.prepare(userData, on: socket) {
                io_uring_prep_splice($0, pipe, -1, socket.value, -1, UInt32(clamping: count), 2 /* SPLICE_F_NONBLOCK, a _GNU_SOURCE name in glibc */)
            }
        }
    }

    /// Waits until `socket` can take more (POLLOUT), or fails (POLLERR, POLLHUP after a
    /// shutdown). A poll is armed in the kernel, not run on io-wq.
    public func waitWritable(_ socket: Descriptor) async -> Int32 {
        await perform { ring, userData in
            ring.prepare(userData, on: socket) { io_uring_prep_poll_add($0, socket.value, UInt32(POLLOUT)) }
        }
    }
}

/// A pipe for splicing, with its capacity (F_GETPIPE_SZ after asking for more).
public struct Pipe: Sendable {
    public let readEnd: Int32
    public let writeEnd: Int32
    public let capacity: Int

    /// A close-on-exec pipe of up to `capacity` bytes: the kernel may give less
    /// (/proc/sys/fs/pipe-max-size, or a user over pipe-user-pages-soft), and
    /// `capacity` then says what it gave.
    public static func make(capacity: Int) throws(SystemError) -> Pipe {
        var ends: (Int32, Int32) = (-1, -1)
        _ = try withUnsafeMutablePointer(to: &ends) { p throws(SystemError) in
            try p.withMemoryRebound(to: Int32.self, capacity: 2) { fds throws(SystemError) in
                try syscall("pipe2") { CLiburing_pipe_cloexec(fds) }
            }
        }
        // F_SETPIPE_SZ (1031) and F_GETPIPE_SZ (1032): glibc names them only under _GNU_SOURCE.
        _ = fcntl(ends.1, 1031, Int32(clamping: capacity))  // best effort: the default stays
        let size = fcntl(ends.1, 1032)
        return Pipe(readEnd: ends.0, writeEnd: ends.1, capacity: size > 0 ? Int(size) : 4096)
    }

    init(readEnd: Int32, writeEnd: Int32, capacity: Int) {
        self.readEnd = readEnd
        self.writeEnd = writeEnd
        self.capacity = capacity
    }

    public func close() {
        closeDescriptor(readEnd)
        closeDescriptor(writeEnd)
    }
}
