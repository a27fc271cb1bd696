import SystemPackage

/// The errno type of this project is swift-system's: one vocabulary with the rest of the
/// Swift ecosystem, readable names for the codes this project branches on, and the C
/// library's text in messages.
public typealias Errno = SystemPackage.Errno

extension Errno {
    /// The `-errno` that io_uring puts in a completion's `res`.
    @inline(__always)
    public init(negatedResult res: Int32) { self.init(rawValue: -res) }
}

/// A failed system call: which function, and the errno it left.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let function: String
    public let errno: Errno
    public init(_ function: String, _ errno: Errno) {
        self.function = function
        self.errno = errno
    }
    /// "function: text (errno N)": the number too, for searching and for codes whose text
    /// differs between C libraries.
    /// errno 0 marks a failure that no system call reported: the text says it all.
    public var description: String { errno.rawValue == 0 ? function : "\(function): \(errno) (errno \(errno.rawValue))" }
}
