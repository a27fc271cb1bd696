/// A connection's received bytes not yet consumed by an answered request: a `RawBuffer`
/// read from the front.
///
/// A read can hold many pipelined requests. Moving the rest of the buffer to the front after
/// each one made a read of n requests cost O(n²) bytes of memmove (16 requests of 79 bytes:
/// 9.5 KB moved for 1.3 KB received). Here an answered request only advances `start`; the
/// unread bytes move to the front at most once per receive, before new bytes are appended,
/// and not at all when every request in the read was answered.
///
/// Offsets the parser keeps (a head's ranges, where a search resumes) are relative to
/// `base`, the first unread byte, and stay valid when the bytes move.
public struct InputBuffer {
    private var storage = RawBuffer()
    private var start = 0

    public init() {}

    /// The first unread byte.
    @inline(__always) public var base: UnsafeMutableRawPointer? { storage.base.map { $0 + start } }

    /// Unread bytes. Setting it keeps the first `newValue` of them (the chunked decoder
    /// shortens a body it decoded in place); 0 empties the buffer.
    @inline(__always) public var count: Int {
        get { storage.count &- start }
        set {
            if newValue == 0 { storage.count = 0; start = 0 } else { storage.count = start + newValue }
        }
    }

    @inline(__always) public var isEmpty: Bool { storage.count == start }
    @inline(__always) public var capacity: Int { storage.capacity }
    @inline(__always) public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Appends received bytes, first moving the unread ones to the front.
    @inline(__always) public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 {
            storage.removeFirst(start)
            start = 0
        }
        storage.append(bytes)
    }

    /// Marks the first `n` unread bytes as consumed.
    @inline(__always) public mutating func consume(_ n: Int) {
        if n >= count { count = 0 } else { start += n }
    }

    public mutating func release() {
        storage.release()
        start = 0
    }

    public mutating func shrink(ifAbove limit: Int) {
        if isEmpty { start = 0; storage.count = 0 }
        storage.shrink(ifAbove: limit)
    }
}
