import Glibc

// The one choke point for blocking-style system calls outside the ring (socket setup,
// mmap, spawn). Following swift-nio's System.swift:
// - EINTR is retried here, so no caller needs its own loop;
// - EBADF and EFAULT mean this program has a bug (a closed or wild descriptor or pointer),
//   so they stop the process instead of being thrown and perhaps swallowed;
// - every other failure is thrown as a SystemError that names the function.

@inline(__always)
private func checkForProgrammerError(_ name: StaticString, _ code: Int32) {
    if code == EBADF || code == EFAULT {
        fatalError("\(name) failed with \(Errno(rawValue: code)): a bug in uring-cluster")
    }
}

/// Runs a call that returns -1 and sets errno on failure.
@inline(__always)
@discardableResult
public func syscall<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        checkForProgrammerError(name, code)
        throw SystemError("\(name)", Errno(rawValue: code))
    }
}

/// Runs a liburing function that returns `-errno` on failure.
@inline(__always)
@discardableResult
public func uringCall(_ name: StaticString, _ body: () -> Int32) throws(SystemError) -> Int32 {
    while true {
        let result = body()
        if result >= 0 { return result }
        if result == -EINTR { continue }
        checkForProgrammerError(name, -result)
        throw SystemError("\(name)", Errno(rawValue: -result))
    }
}

/// Closes a descriptor this program owns, outside the ring.
/// - EINTR is not retried: on Linux the descriptor is released even then (close(2)), and
///   a retry could close a newer descriptor that reused the number.
/// - EBADF means a double close or a number never owned: a bug (`reportBadClose`).
public func closeDescriptor(_ fd: Int32) {
    if Glibc.close(fd) < 0 && Glibc.errno == EBADF { reportBadClose("close(\(fd))") }
}

/// A close (on the ring or not) that failed with EBADF: this program closed a descriptor
/// twice, or one it never owned, and may have closed someone else's. Reported on standard
/// error in every build, and a trap in debug builds (the tests'), so that a test finds it.
public func reportBadClose(_ what: String) {
    printError("uring-cluster: \(what) failed: \(Errno.badFileDescriptor) (a bug in uring-cluster: closed twice or never owned)")
    assertionFailure("\(what) returned EBADF")
}
