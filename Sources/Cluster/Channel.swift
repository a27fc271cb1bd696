import Glibc
import URing

/// Blocking send and receive on a channel, outside any ring: a worker's start-up handshake
/// and the tests use them.
public enum Channel {
    /// A connected pair of SOCK_SEQPACKET sockets, close-on-exec.
    public static func pair() throws(SystemError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        try syscall("socketpair") {
            socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        }
        return (fds[0], fds[1])
    }

    public static func send(_ fd: Int32, _ message: ClusterMessage, descriptors: [Int32] = []) throws(SystemError) {
        let buffer = MessageBuffer(dataCapacity: ClusterMessage.maxSize + 1)
        let bytes = message.encoded()
        guard bytes.count <= ClusterMessage.maxSize else { throw SystemError("send(message too large)", Errno(rawValue: EMSGSIZE)) }
        let length = buffer.load(bytes)
        descriptors.withUnsafeBufferPointer { buffer.prepareSend(length: length, descriptors: $0) }
        try buffer.sendBlocking(fd)
    }

    /// Receives one message; nil at end of stream (the peer closed).
    public static func receive(_ fd: Int32) throws(SystemError) -> (ClusterMessage, [Int32])? {
        let buffer = MessageBuffer(dataCapacity: ClusterMessage.maxSize)
        let n = try buffer.receiveBlocking(fd)
        if n == 0 { return nil }
        var fds: [Int32] = []
        buffer.receivedDescriptors(into: &fds)
        guard let message = ClusterMessage.decode(UnsafeRawBufferPointer(start: buffer.data, count: n)) else {
            for fd in fds { closeDescriptor(fd) }
            throw SystemError("recvmsg(unknown message)", .invalidArgument)
        }
        return (message, fds)
    }
}
