import HTTP1

/// The parameters a route matched (`{id}`, and a trailing `**`'s rest), as ranges of the
/// request's bytes, held inline: matching a route allocates nothing. A route has at most
/// `RouteParameters.capacity` of them (the router refuses more when it is built).
public struct RouteParameters: @unchecked Sendable {
    public static let capacity = 8
    var ranges: (ByteRange, ByteRange, ByteRange, ByteRange, ByteRange, ByteRange, ByteRange, ByteRange) =
        (.empty, .empty, .empty, .empty, .empty, .empty, .empty, .empty)
    public private(set) var count = 0
    /// The matched route's parameter names, in order. Unowned: a router's names live as
    /// long as the router, which serves for the life of its server.
    unowned(unsafe) var names: RouteNames?

    init() {}

    mutating func append(_ range: ByteRange) {
        precondition(count < Self.capacity)
        withUnsafeMutableBytes(of: &ranges) { $0.storeBytes(of: range, toByteOffset: count * MemoryLayout<ByteRange>.stride, as: ByteRange.self) }
        count += 1
    }

    mutating func removeLast() { count -= 1 }

    /// Moves every range by `offset` bytes (from the path's bytes to the request's).
    mutating func shift(by offset: Int) {
        guard offset != 0 else { return }
        withUnsafeMutableBytes(of: &ranges) { raw in
            for i in 0..<count {
                var r = raw.load(fromByteOffset: i * MemoryLayout<ByteRange>.stride, as: ByteRange.self)
                r.start += Int32(truncatingIfNeeded: offset)
                raw.storeBytes(of: r, toByteOffset: i * MemoryLayout<ByteRange>.stride, as: ByteRange.self)
            }
        }
    }

    subscript(i: Int) -> ByteRange {
        precondition(i < count)
        return withUnsafeBytes(of: ranges) { $0.load(fromByteOffset: i * MemoryLayout<ByteRange>.stride, as: ByteRange.self) }
    }

    func range(named name: String) -> ByteRange? {
        guard let names else { return nil }
        for (i, n) in names.names.prefix(count).enumerated() where n == name { return self[i] }
        return nil
    }
}

/// A route's parameter names (a class so that a request can point at them without ARC).
public final class RouteNames: Sendable {
    public let names: [String]
    init(_ names: [String]) { self.names = names }
}
