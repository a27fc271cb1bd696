import CLiburing
import Glibc

// Files through the ring, for a task that awaits each step (AwaitedOperations): open
// beneath a directory, the status of an open file, a read at an offset, a close. Each
// keeps what the kernel reads or writes (the path, the open_how, the statx buffer) in
// memory of its own until the completion.
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
    public var device: UInt64
    public var modifiedSeconds: Int64
    public var modifiedNanoseconds: UInt32

    public init(kind: Kind, size: Int, inode: UInt64, device: UInt64, modifiedSeconds: Int64, modifiedNanoseconds: UInt32) {
        self.kind = kind
        self.size = size
        self.inode = inode
        self.device = device
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
        device = UInt64(s.stx_dev_major) << 32 | UInt64(s.stx_dev_minor)
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
    /// thread. Reads of a regular file on a filesystem that supports them without blocking
    /// (ext4, xfs, btrfs, tmpfs) are still queued to io-wq when the pages are not cached,
    /// not answered EAGAIN (io_uring/rw.c).
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
