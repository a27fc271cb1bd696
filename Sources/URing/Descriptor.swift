/// What a ring operation names as its file: a descriptor of the process, or a slot of the
/// ring's own registered file table (a "direct descriptor", IOSQE_FIXED_FILE).
///
/// A direct descriptor costs the kernel no fdget/fdput per operation and no entry in the
/// process's descriptor table, and is the only kind one ring can hand to another
/// (IORING_MSG_SEND_FD). Connections in this project are direct wherever the kernel
/// allows; a process descriptor remains for what arrives by SCM_RIGHTS, and for a kernel
/// without a file table.
public struct Descriptor: Hashable, Sendable, CustomStringConvertible {
    /// The process descriptor, or the file table slot.
    public let value: Int32
    public let isDirect: Bool

    @inline(__always)
    public init(process fd: Int32) {
        value = fd
        isDirect = false
    }

    @inline(__always)
    public init(direct slot: Int32) {
        value = slot
        isDirect = true
    }

    /// No descriptor (a slot not in use).
    public static let none = Descriptor(process: -1)
    @inline(__always) public var isValid: Bool { value >= 0 }

    public var description: String { isDirect ? "direct \(value)" : "fd \(value)" }
}
