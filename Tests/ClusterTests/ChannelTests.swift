import Glibc
import Testing
import URing
@testable import Cluster

@Suite("Channel")
struct ChannelTests {
    @Test func pairIsTwoConnectedSeqpacketSocketsClosedOnExec() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        #expect(a != b)
        for fd in [a, b] {
            var type: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            #expect(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
            #expect(type == Int32(SOCK_SEQPACKET.rawValue))
            var domain: Int32 = 0
            len = socklen_t(MemoryLayout<Int32>.size)
            #expect(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0)
            #expect(domain == AF_UNIX)
            #expect(isCloseOnExec(fd))
        }
    }

    @Test func aMessageWithoutDescriptorsArrivesUnchanged() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        try Channel.send(a, .listen(host: "::1", port: 8080))
        let received = try #require(try Channel.receive(b))
        #expect(received.0 == .listen(host: "::1", port: 8080))
        #expect(received.1.isEmpty)
    }

    @Test func worksInBothDirections() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        try Channel.send(a, .online)
        try Channel.send(b, .listenReply(port: 1234, errno: -98))
        #expect(try Channel.receive(b)?.0 == .online)
        #expect(try Channel.receive(a)?.0 == .listenReply(port: 1234, errno: -98))
    }

    @Test func descriptorsArriveAsNewDescriptorsForTheSameFiles() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(devNull >= 0)
        let (pipeRead, pipeWrite) = makePipe()
        let file = temporaryFile([1, 2, 3])
        let sent = [devNull, pipeRead, pipeWrite, file]
        defer { for fd in sent { close(fd) } }

        try Channel.send(a, .handoff(count: UInt32(sent.count)), descriptors: sent)
        let (message, received) = try #require(try Channel.receive(b))
        defer { for fd in received { close(fd) } }

        #expect(message == .handoff(count: 4))
        try #require(received.count == sent.count)
        for (s, r) in zip(sent, received) {
            #expect(r != s)
            #expect(!sent.contains(r), "received descriptor \(r) is not new")
            #expect(identity(r) != nil)
            #expect(identity(r) == identity(s), "descriptor \(r) should be the file of \(s)")
            // Received with MSG_CMSG_CLOEXEC.
            #expect(isCloseOnExec(r))
        }
        #expect(Set(received).count == received.count)

        // The received pipe end really is the same pipe.
        var byte: UInt8 = 0x5A
        #expect(write(received[2], &byte, 1) == 1)
        byte = 0
        #expect(read(pipeRead, &byte, 1) == 1)
        #expect(byte == 0x5A)
    }

    @Test func theSenderKeepsItsDescriptorsOpen() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(devNull) }
        try Channel.send(a, .listenReply(port: 80, errno: 0), descriptors: [devNull])
        #expect(isOpen(devNull))
        let (message, received) = try #require(try Channel.receive(b))
        defer { for fd in received { close(fd) } }
        #expect(message == .listenReply(port: 80, errno: 0))
        #expect(received.count == 1)
    }

    @Test func manyDescriptorsInOneMessage() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(devNull) }
        // The same descriptor may be sent several times; each copy arrives as its own fd.
        let sent = [Int32](repeating: devNull, count: 100)
        try Channel.send(a, .handoff(count: 100), descriptors: sent)
        let (message, received) = try #require(try Channel.receive(b))
        defer { for fd in received { close(fd) } }
        #expect(message == .handoff(count: 100))
        #expect(received.count == 100)
        #expect(Set(received).count == 100)
        #expect(received.allSatisfy { identity($0) == identity(devNull) })
    }

    @Test func messageBoundariesAreKept() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        let (r, w) = makePipe()
        defer { close(r); close(w) }
        try Channel.send(a, .refused(position: 3, count: 1))
        try Channel.send(a, .handoff(count: 1), descriptors: [r])
        try Channel.send(a, .userFromWorker(Array("one".utf8)))
        try Channel.send(a, .userFromWorker(Array("two".utf8)))

        let first = try #require(try Channel.receive(b))
        #expect(first.0 == .refused(position: 3, count: 1))
        #expect(first.1.isEmpty)
        let second = try #require(try Channel.receive(b))
        defer { for fd in second.1 { close(fd) } }
        #expect(second.0 == .handoff(count: 1))
        #expect(second.1.count == 1)
        #expect(second.1.first.flatMap(identity) == identity(r))
        #expect(try Channel.receive(b)?.0 == .userFromWorker(Array("one".utf8)))
        #expect(try Channel.receive(b)?.0 == .userFromWorker(Array("two".utf8)))
    }

    @Test func receiveReturnsNilAfterThePeerCloses() throws {
        let (a, b) = try Channel.pair()
        defer { close(b) }
        try Channel.send(a, .online)
        close(a)
        // What was sent before the close is still delivered, then the end of stream.
        #expect(try Channel.receive(b)?.0 == .online)
        #expect(try Channel.receive(b) == nil)
        #expect(try Channel.receive(b) == nil)
    }

    @Test func sendingToAClosedPeerThrowsBrokenPipe() throws {
        let (a, b) = try Channel.pair()
        defer { close(a) }
        close(b)
        #expect {
            try Channel.send(a, .online)
        } throws: { error in
            (error as? SystemError)?.errno == .brokenPipe
        }
    }

    @Test func aMessageLargerThanMaxSizeThrowsAndSendsNothing() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        let tooLarge = ClusterMessage.userFromPrimary([UInt8](repeating: 7, count: ClusterMessage.maxSize))
        #expect(tooLarge.encoded().count == ClusterMessage.maxSize + 1)
        #expect {
            try Channel.send(a, tooLarge)
        } throws: { error in
            (error as? SystemError)?.errno == Errno(rawValue: EMSGSIZE)
        }
        // Nothing went out: the next message received is the next one sent.
        try Channel.send(a, .online)
        #expect(try Channel.receive(b)?.0 == .online)
    }

    @Test func theLargestMessageArrivesWhole() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        let payload = (0..<(ClusterMessage.maxSize - 1)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try Channel.send(a, .userFromWorker(payload))
        #expect(try Channel.receive(b)?.0 == .userFromWorker(payload))
    }

    @Test func anUnknownMessageThrowsInvalidArgument() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        var junk: [UInt8] = [0xEE, 1, 2]
        #expect(Glibc.send(a, &junk, junk.count, 0) == junk.count)
        #expect {
            _ = try Channel.receive(b)
        } throws: { error in
            (error as? SystemError)?.errno == .invalidArgument
        }
        // The channel stays usable.
        try Channel.send(a, .online)
        #expect(try Channel.receive(b)?.0 == .online)
    }
}
