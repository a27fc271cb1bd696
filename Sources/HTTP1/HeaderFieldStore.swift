import Glibc

/// A connection's own copy of its current request's header fields (ranges into its input).
///
/// The parser writes fields into a table shared by every connection of a loop, which the
/// next parse on any connection overwrites. A request whose body arrives in a later read,
/// or that waits behind a delayed response, is dispatched after other connections have
/// parsed, so its fields are copied here right after its head parses. Manual lifetime, as
/// `RawBuffer`: a plain struct in the connection table, no ARC; it grows to the most
/// fields a request on the connection had and is freed with the connection.
public struct HeaderFieldStore {
    private var base: UnsafeMutablePointer<HeaderField>?
    public private(set) var capacity = 0
    public private(set) var count = 0

    public init() {}

    /// Replaces the stored fields with `source[0..<count]`.
    public mutating func assign(_ source: UnsafeMutableBufferPointer<HeaderField>, count n: Int) {
        if n > capacity {
            var newCapacity = max(capacity, 16)
            while newCapacity < n { newCapacity *= 2 }
            guard let p = realloc(base, newCapacity * MemoryLayout<HeaderField>.stride) else {
                fatalError("out of memory growing a header field table to \(newCapacity) entries")
            }
            base = p.assumingMemoryBound(to: HeaderField.self)
            capacity = newCapacity
        }
        if n > 0 { base!.update(from: source.baseAddress!, count: n) }
        count = n
    }

    public var fields: UnsafeBufferPointer<HeaderField> { UnsafeBufferPointer(start: base, count: count) }

    /// Frees the memory; the store is empty and usable again afterwards.
    public mutating func release() {
        free(base)
        base = nil
        capacity = 0
        count = 0
    }
}
