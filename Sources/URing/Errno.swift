import Glibc

/// An errno value as a type: readable names for the codes this project branches on,
/// and the C library's text for any code in messages.
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The `-errno` that io_uring puts in a completion's `res`.
    @inline(__always)
    public init(negatedResult res: Int32) { self.rawValue = -res }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let busy = Errno(rawValue: EBUSY)
    public static let canceled = Errno(rawValue: ECANCELED)
    public static let noBufferSpace = Errno(rawValue: ENOBUFS)
    public static let timerExpired = Errno(rawValue: ETIME)
    public static let tooManyOpenFiles = Errno(rawValue: EMFILE)
    public static let tooManyOpenFilesInSystem = Errno(rawValue: ENFILE)
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let notFound = Errno(rawValue: ENOENT)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)

    public var description: String {
        "\(String(cString: strerror(rawValue))) (errno \(rawValue))"
    }
}

/// A failed system call: which function, and the errno it left.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let function: String
    public let errno: Errno
    public init(_ function: String, _ errno: Errno) {
        self.function = function
        self.errno = errno
    }
    public var description: String { "\(function): \(errno)" }
}
