import Testing
@testable import HTTP1

@Suite("RawBuffer")
struct RawBufferTests {
    static func contents(_ b: RawBuffer) -> [UInt8] { Array(b.bytes) }

    @Test func newBufferIsEmptyAndUnallocated() {
        var b = RawBuffer()
        #expect(b.base == nil)
        #expect(b.count == 0)
        #expect(b.capacity == 0)
        #expect(b.isEmpty)
        #expect(b.bytes.isEmpty)
        // Appending nothing allocates nothing.
        b.append(UnsafeRawBufferPointer(start: nil, count: 0))
        b.append("" as StaticString)
        #expect(b.base == nil)
        #expect(b.capacity == 0)
    }

    @Test func appendBytesStaticStringsAndSingleBytes() {
        var b = RawBuffer()
        defer { b.release() }
        b.append(bytes: [0x00, 0xFF, 0x41])
        b.append("bc" as StaticString)
        b.append(byte: 0x0A)
        #expect(Self.contents(b) == [0x00, 0xFF, 0x41, 0x62, 0x63, 0x0A])
        #expect(b.count == 6)
        #expect(!b.isEmpty)
        #expect(b.capacity >= 6)
    }

    @Test(arguments: [0, 7, 9, 10, 99, 100, 12345, 1_000_000, Int(Int32.max), Int.max])
    func appendDecimalWritesTheNumber(_ value: Int) {
        var b = RawBuffer()
        defer { b.release() }
        b.append("n=" as StaticString)
        b.appendDecimal(value)
        b.append(byte: UInt8(ascii: ";"))
        #expect(String(decoding: b.bytes, as: UTF8.self) == "n=\(value);")
    }

    @Test func appendDecimalOfANegativeNumberWritesZero() {
        var b = RawBuffer()
        defer { b.release() }
        b.appendDecimal(-42)
        b.appendDecimal(Int.min)
        #expect(String(decoding: b.bytes, as: UTF8.self) == "00")
    }

    @Test func removeFirstMovesTheRestToTheFront() {
        var b = RawBuffer()
        defer { b.release() }
        b.append(bytes: Array(0..<10))
        b.removeFirst(0)
        #expect(Self.contents(b) == Array(0..<10))
        b.removeFirst(3)
        #expect(Self.contents(b) == Array(3..<10))
        #expect(b.count == 7)
        // Appending after a removal continues after the remaining bytes.
        b.append(byte: 99)
        #expect(Self.contents(b) == Array(3..<10) + [99])
        b.removeFirst(b.count - 1)
        #expect(Self.contents(b) == [99])
    }

    @Test func removeFirstOfAllOrMoreEmptiesTheBuffer() {
        var b = RawBuffer()
        defer { b.release() }
        b.append(bytes: [1, 2, 3])
        let capacity = b.capacity
        b.removeFirst(3)
        #expect(b.isEmpty)
        #expect(b.capacity == capacity)
        b.append(bytes: [4, 5])
        b.removeFirst(100)
        #expect(b.count == 0)
        b.removeFirst(1)  // on an empty buffer: nothing happens
        #expect(b.count == 0)
    }

    @Test func growsBeyondItsInitialCapacityKeepingContents() {
        var b = RawBuffer(capacity: 16)
        defer { b.release() }
        // The smallest allocation is 256 bytes.
        #expect(b.capacity == 256)
        #expect(b.base != nil)
        let pattern = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for chunk in stride(from: 0, to: pattern.count, by: 100) {
            b.append(bytes: Array(pattern[chunk..<min(chunk + 100, pattern.count)]))
        }
        #expect(b.count == 5000)
        // Capacity doubles from 256: the first power-of-two multiple that fits.
        #expect(b.capacity == 8192)
        #expect(Self.contents(b) == pattern)
    }

    @Test func reserveCapacityAndTail() {
        var b = RawBuffer()
        defer { b.release() }
        b.reserveCapacity(1000)
        #expect(b.capacity == 1024)
        b.reserveCapacity(10)  // never shrinks
        #expect(b.capacity == 1024)
        let p = b.tail(reserving: 4)
        #expect(p == b.base)
        p.copyMemory(from: [UInt8(1), 2, 3, 4], byteCount: 4)
        b.count += 4
        let q = b.tail(reserving: 2000)
        #expect(b.capacity == 2048)
        #expect(q == b.base! + 4)
        #expect(Self.contents(b) == [1, 2, 3, 4])
    }

    @Test func releaseFreesAndLeavesAReusableEmptyBuffer() {
        var b = RawBuffer(capacity: 300)
        b.append(bytes: [1, 2, 3])
        b.release()
        #expect(b.base == nil)
        #expect(b.count == 0)
        #expect(b.capacity == 0)
        b.append(bytes: [7, 8])
        #expect(Self.contents(b) == [7, 8])
        #expect(b.capacity == 256)
        b.release()
        #expect(b.base == nil)
    }

    @Test func shrinkReleasesOnlyAnEmptyBufferOverTheLimit() {
        var b = RawBuffer(capacity: 4096)
        b.append(byte: 1)
        b.shrink(ifAbove: 1024)
        #expect(b.capacity == 4096)  // not empty: kept
        b.removeFirst(1)
        b.shrink(ifAbove: 4096)
        #expect(b.capacity == 4096)  // not above the limit: kept
        b.shrink(ifAbove: 1024)
        #expect(b.capacity == 0)
        #expect(b.base == nil)
    }

    /// Pipelined requests are consumed from the front without moving the rest; the unread
    /// bytes move once, when the next receive appends.
    @Test func anInputBufferConsumesFromTheFrontAndCompactsOnAppend() {
        var input = InputBuffer()
        defer { input.release() }
        [UInt8](1...10).withUnsafeBytes { input.append($0) }
        let first = input.base!
        input.consume(3)
        #expect(input.base! == first + 3)  // not moved
        #expect(input.count == 7)
        #expect(Array(input.bytes) == [4, 5, 6, 7, 8, 9, 10])
        input.count = 5  // keeps the first 5 unread (a chunked body decoded in place)
        #expect(Array(input.bytes) == [4, 5, 6, 7, 8])
        [UInt8]([11]).withUnsafeBytes { input.append($0) }
        #expect(input.base! == first)  // moved to the front before appending
        #expect(Array(input.bytes) == [4, 5, 6, 7, 8, 11])
        input.consume(6)
        #expect(input.isEmpty && input.count == 0)
        [UInt8]([12]).withUnsafeBytes { input.append($0) }
        #expect(input.base! == first && Array(input.bytes) == [12])
        input.consume(100)
        #expect(input.isEmpty)
    }
}
