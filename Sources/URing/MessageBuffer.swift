import CLiburing
import Glibc

/// The memory of one sendmsg or recvmsg on a channel: msghdr, iovec, data and room for up
/// to `maxDescriptors` SCM_RIGHTS descriptors. It never moves, so the ring can use it while
/// the operation is in flight.
public final class MessageBuffer {
    /// SCM_MAX_FD in the kernel: the most descriptors one message can carry.
    public static let maxDescriptors = 253

    @usableFromInline let header: UnsafeMutablePointer<msghdr>
    let iov: UnsafeMutablePointer<iovec>
    /// The message's bytes: what arrived, or what to send.
    public let data: UnsafeMutableRawPointer
    public let dataCapacity: Int
    let control: UnsafeMutableRawPointer
    let controlCapacity: Int

    public init(dataCapacity: Int) {
        self.dataCapacity = dataCapacity
        data = .allocate(byteCount: dataCapacity, alignment: 16)
        controlCapacity = CLiburing_CMSG_SPACE(MemoryLayout<Int32>.size * Self.maxDescriptors)
        control = .allocate(byteCount: controlCapacity, alignment: 16)
        header = .allocate(capacity: 1)
        iov = .allocate(capacity: 1)
        header.initialize(to: msghdr())
        iov.initialize(to: iovec())
    }

    deinit {
        data.deallocate()
        control.deallocate()
        header.deallocate()
        iov.deallocate()
    }

    /// Prepares the header to receive one message (Ring.receiveMessage does it).
    @usableFromInline
    func prepareReceive() {
        iov.pointee = iovec(iov_base: data, iov_len: dataCapacity)
        header.pointee = msghdr()
        header.pointee.msg_iov = iov
        header.pointee.msg_iovlen = 1
        header.pointee.msg_control = control
        header.pointee.msg_controllen = controlCapacity
    }

    /// Prepares the header to send `length` bytes of `data` with `descriptors`.
    public func prepareSend(length: Int, descriptors: UnsafeBufferPointer<Int32>) {
        precondition(descriptors.count <= Self.maxDescriptors)
        iov.pointee = iovec(iov_base: data, iov_len: length)
        header.pointee = msghdr()
        header.pointee.msg_iov = iov
        header.pointee.msg_iovlen = 1
        if descriptors.count > 0 {
            let bytes = MemoryLayout<Int32>.size * descriptors.count
            let space = CLiburing_CMSG_SPACE(bytes)
            memset(control, 0, space)
            header.pointee.msg_control = control
            header.pointee.msg_controllen = space
            let cmsg = CLiburing_CMSG_FIRSTHDR(header)!
            cmsg.pointee.cmsg_level = SOL_SOCKET
            cmsg.pointee.cmsg_type = Int32(SCM_RIGHTS)
            cmsg.pointee.cmsg_len = CLiburing_CMSG_LEN(bytes)
            memcpy(CLiburing_CMSG_DATA(cmsg), descriptors.baseAddress!, bytes)
        }
    }

    /// Copies an encoded message into the data area; returns its length.
    @discardableResult
    public func load(_ bytes: [UInt8]) -> Int {
        precondition(bytes.count <= dataCapacity, "message larger than its buffer")
        bytes.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return bytes.count
    }

    /// Prepares the header to send an encoded message with at most one descriptor.
    public func prepareSend(_ bytes: [UInt8], descriptor: Int32? = nil) {
        let length = load(bytes)
        if let descriptor {
            withUnsafePointer(to: descriptor) { prepareSend(length: length, descriptors: UnsafeBufferPointer(start: $0, count: 1)) }
        } else {
            prepareSend(length: length, descriptors: UnsafeBufferPointer(start: nil, count: 0))
        }
    }

    /// The descriptors that arrived with the last message received, in order.
    public func receivedDescriptors(into out: inout [Int32]) {
        out.removeAll(keepingCapacity: true)
        var cmsg = CLiburing_CMSG_FIRSTHDR(header)
        while let c = cmsg {
            if c.pointee.cmsg_level == SOL_SOCKET && c.pointee.cmsg_type == Int32(SCM_RIGHTS) {
                let count = (Int(c.pointee.cmsg_len) - CLiburing_CMSG_LEN(0)) / MemoryLayout<Int32>.size
                let fds = UnsafeRawPointer(CLiburing_CMSG_DATA(c)!)
                for k in 0..<count { out.append(fds.load(fromByteOffset: k * 4, as: Int32.self)) }
            }
            cmsg = CLiburing_CMSG_NXTHDR(header, c)
        }
    }

    /// Sends the prepared message with a blocking sendmsg(2), outside any ring.
    public func sendBlocking(_ fd: Int32) throws(SystemError) {
        try syscall("sendmsg") { sendmsg(fd, header, Int32(MSG_NOSIGNAL)) }
    }

    /// Receives one message with a blocking recvmsg(2), outside any ring: its length, 0
    /// when the peer closed.
    public func receiveBlocking(_ fd: Int32) throws(SystemError) -> Int {
        prepareReceive()
        return try syscall("recvmsg") { recvmsg(fd, header, Int32(MSG_CMSG_CLOEXEC)) }
    }

    /// True when descriptors were dropped because the receiver was at its RLIMIT_NOFILE.
    public var controlTruncated: Bool { header.pointee.msg_flags & Int32(MSG_CTRUNC) != 0 }
}
