import Glibc

/// A growable byte buffer with manual lifetime: no ARC, no copy-on-write, so the event
/// loop can keep one per connection in a flat table and append to it without retain or
/// release. The owner calls `release()` exactly once.
public struct RawBuffer {
    public private(set) var base: UnsafeMutableRawPointer?
    public var count: Int = 0
    public private(set) var capacity: Int = 0

    public init() {}

    public init(capacity: Int) {
        reserveCapacity(capacity)
    }

    @inline(__always) public var isEmpty: Bool { count == 0 }

    /// The bytes in use.
    @inline(__always) public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: count)
    }

    public mutating func reserveCapacity(_ wanted: Int) {
        if wanted <= capacity { return }
        var newCapacity = max(capacity, 256)
        while newCapacity < wanted { newCapacity *= 2 }
        guard let p = realloc(base, newCapacity) else { fatalError("out of memory growing a buffer to \(newCapacity) bytes") }
        base = p
        capacity = newCapacity
    }

    /// Room for `n` more bytes; returns where they go. The caller then adds to `count`.
    @inline(__always)
    public mutating func tail(reserving n: Int) -> UnsafeMutableRawPointer {
        if count + n > capacity { reserveCapacity(count + n) }
        return base.unsafelyUnwrapped + count
    }

    @inline(__always)
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        let dst = tail(reserving: bytes.count)
        dst.copyMemory(from: src, byteCount: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    public mutating func append(_ s: StaticString) {
        append(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    @inline(__always)
    public mutating func append(byte: UInt8) {
        tail(reserving: 1).storeBytes(of: byte, as: UInt8.self)
        count += 1
    }

    /// Appends a non-negative integer in decimal without allocating.
    @inline(__always)
    public mutating func appendDecimal(_ value: Int) {
        count += Self.writeDecimal(value, at: tail(reserving: 20))
    }

    /// Appends a non-negative integer in lowercase hexadecimal (a chunk's size line).
    public mutating func appendHex(_ value: Int) {
        let v = UInt(max(0, value))
        var digits = 1
        while digits < 16 && v >> (4 * UInt(digits)) != 0 { digits += 1 }
        let p = tail(reserving: 16)
        for i in 0..<digits {
            let nibble = UInt8(truncatingIfNeeded: v >> (4 * UInt(digits - 1 - i))) & 0xF
            p.storeBytes(of: nibble < 10 ? 48 + nibble : 87 + nibble, toByteOffset: i, as: UInt8.self)
        }
        count += digits
    }

    /// Writes a non-negative integer (negative ones as 0) in decimal at `dst`, which has room
    /// for 20 digits; returns how many it wrote.
    @inline(__always)
    public static func writeDecimal(_ value: Int, at dst: UnsafeMutableRawPointer) -> Int {
        var v = UInt(max(0, value))
        var digits = 1
        var probe = v
        while probe >= 10 { probe /= 10; digits += 1 }
        var i = digits
        repeat {
            i -= 1
            dst.storeBytes(of: UInt8(48 + v % 10), toByteOffset: i, as: UInt8.self)
            v /= 10
        } while i > 0
        return digits
    }

    /// Drops the first `n` bytes, moving the rest to the front.
    @inline(__always)
    public mutating func removeFirst(_ n: Int) {
        if n >= count { count = 0; return }
        if n > 0 {
            let b = base.unsafelyUnwrapped
            memmove(b, b + n, count - n)
            count -= n
        }
    }

    /// Frees the memory. The buffer is empty and usable again afterwards.
    public mutating func release() {
        free(base)
        base = nil
        count = 0
        capacity = 0
    }

    /// Shrinks the allocation back to `limit` when an unusual request grew it (keeps idle
    /// connections small).
    public mutating func shrink(ifAbove limit: Int) {
        if capacity > limit && count == 0 { release() }
    }
}
