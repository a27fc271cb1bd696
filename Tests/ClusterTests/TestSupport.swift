import Glibc

/// Device and inode of an open descriptor: two descriptors with the same identity refer
/// to the same file.
struct FileIdentity: Equatable, CustomStringConvertible {
    let device: UInt64
    let inode: UInt64
    var description: String { "dev \(device) ino \(inode)" }
}

func identity(_ fd: Int32) -> FileIdentity? {
    var st = stat()
    guard fstat(fd, &st) == 0 else { return nil }
    return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
}

func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }

func isCloseOnExec(_ fd: Int32) -> Bool {
    let flags = fcntl(fd, F_GETFD)
    return flags != -1 && flags & FD_CLOEXEC != 0
}

func makePipe() -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    precondition(pipe(&fds) == 0)
    return (fds[0], fds[1])
}

/// A new file in /tmp holding `bytes`, opened read-write and already unlinked.
func temporaryFile(_ bytes: [UInt8]) -> Int32 {
    var template = Array("/tmp/cluster-tests-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    precondition(fd >= 0)
    template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    var written = 0
    while written < bytes.count {
        let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        precondition(n > 0)
        written += n
    }
    return fd
}
