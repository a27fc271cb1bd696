import CLiburing
import Glibc

/// A provided-buffer ring (kernel 5.19): the kernel picks a free buffer for each
/// multishot recv completion, and the program gives each buffer back after use.
///
/// liburing 2.3 has no `io_uring_setup_buf_ring` (added in 2.4), so the ring memory is
/// mapped here and registered with `io_uring_register_buf_ring`.
public final class BufferRing {
    public let groupID: UInt16
    public let count: UInt32
    public let bufferSize: Int
    @usableFromInline let ringMemory: UnsafeMutablePointer<io_uring_buf_ring>
    @usableFromInline let ringBytes: Int
    @usableFromInline let buffers: UnsafeMutableRawPointer
    @usableFromInline let mask: Int32

    /// - Parameters:
    ///   - count: a power of two, at most 32768.
    public init(ring: Ring, groupID: UInt16, count: UInt32, bufferSize: Int) throws(SystemError) {
        precondition(count > 0 && count & (count - 1) == 0 && count <= 32768, "buffer count must be a power of two")
        self.groupID = groupID
        self.count = count
        self.bufferSize = bufferSize
        ringBytes = Int(count) * MemoryLayout<io_uring_buf>.stride
        let mem = mmap(nil, ringBytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0)
        guard let mem, mem != MAP_FAILED else {
            throw SystemError("mmap", Errno(rawValue: Glibc.errno))
        }
        ringMemory = mem.assumingMemoryBound(to: io_uring_buf_ring.self)
        buffers = .allocate(byteCount: Int(count) * bufferSize, alignment: 64)
        mask = io_uring_buf_ring_mask(count)
        io_uring_buf_ring_init(ringMemory)

        var reg = io_uring_buf_reg()
        reg.ring_addr = UInt64(UInt(bitPattern: mem))
        reg.ring_entries = count
        reg.bgid = groupID
        let rc = io_uring_register_buf_ring(ring.pointer, &reg, 0)
        if rc < 0 {
            munmap(mem, ringBytes)
            buffers.deallocate()
            throw SystemError("io_uring_register_buf_ring", Errno(negatedResult: rc))
        }
        for id in 0..<count {
            io_uring_buf_ring_add(ringMemory, buffers + Int(id) * bufferSize, UInt32(bufferSize),
                                  UInt16(id), mask, Int32(id))
        }
        io_uring_buf_ring_advance(ringMemory, Int32(count))
    }

    deinit {
        munmap(ringMemory, ringBytes)
        buffers.deallocate()
    }

    /// The buffer id a completion used: valid when `flags` has IORING_CQE_F_BUFFER.
    @inline(__always)
    public static func bufferID(fromFlags flags: UInt32) -> UInt16 {
        UInt16(truncatingIfNeeded: flags >> IORING_CQE_BUFFER_SHIFT)
    }

    /// The bytes the kernel wrote into buffer `id`.
    @inline(__always)
    public func bytes(_ id: UInt16, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffers + Int(id) * bufferSize, count: count)
    }

    /// Gives buffer `id` back to the kernel.
    @inline(__always)
    public func recycle(_ id: UInt16) {
        io_uring_buf_ring_add(ringMemory, buffers + Int(id) * bufferSize, UInt32(bufferSize), id, mask, 0)
        io_uring_buf_ring_advance(ringMemory, 1)
    }
}
