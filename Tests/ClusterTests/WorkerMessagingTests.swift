@testable import Cluster
import Glibc
import Testing
import URing

/// User messages that cannot travel fail with a clear error instead of trapping the sender
/// (a 64 KiB message used to stop the primary on a precondition in its ring path).
@Suite("Worker messaging")
struct WorkerMessagingTests {
    @Test func aMessageTooLargeForOnePacketIsAClearError() {
        let worker = Worker(id: 1)
        worker.isConnected = true
        let big = [UInt8](repeating: 7, count: ClusterMessage.maxUserPayload + 1)
        #expect(throws: SystemError.self) { try worker.send(big) }
        do {
            try worker.send(big)
        } catch {
            #expect(error.errno == Errno(rawValue: EMSGSIZE))
            #expect("\(error)".contains("at most \(ClusterMessage.maxUserPayload) bytes"), "\(error)")
        }
    }

    @Test func aMessageToAWorkerThatIsGoneIsAClearError() {
        let worker = Worker(id: 3)
        do {
            try worker.send("hello")
            Issue.record("sent to a worker with no channel")
        } catch {
            #expect(error.errno == Errno(rawValue: ENOTCONN))
        }
    }

    /// The descriptor is the sender's to give away: on an error it is closed, not leaked.
    @Test func aDescriptorForAWorkerThatIsGoneIsClosedWithTheError() {
        let (r, w) = makePipe()
        defer { close(w) }
        let worker = Worker(id: 4)
        do {
            try worker.send([1], descriptor: r)
            Issue.record("sent to a worker with no channel")
        } catch {
            #expect(error.errno == Errno(rawValue: ENOTCONN))
        }
        #expect(!isOpen(r))
    }

    @Test func theLargestMessageStillFitsTheChannelBuffers() throws {
        let (a, b) = try Channel.pair()
        defer { close(a); close(b) }
        let payload = [UInt8](repeating: 9, count: ClusterMessage.maxUserPayload)
        try Channel.send(a, .userFromPrimary(payload))
        let received = try #require(try Channel.receive(b))
        #expect(received.0 == .userFromPrimary(payload))
    }

    @Test func workerOnlyCallsInThePrimaryAreClearErrors() {
        let cluster = Cluster()
        #expect(cluster.isPrimary)
        #expect(throws: SystemError.self) { try cluster.sendToPrimary([1]) }
    }
}

@Suite("Default worker count")
struct DefaultWorkerCountTests {
    /// On a machine with more than 256 CPUs the default `--workers` used to fail its own
    /// validation (0...256).
    @Test(arguments: [1, 2, 64, 256, 257, 384, 1024])
    func isACPUEachWithinTheBoardsSlots(_ cpus: Int) {
        let n = Cluster.defaultWorkerCount(cpus: cpus)
        #expect(n == min(cpus, 256))
        #expect((1...Cluster.maxWorkers).contains(n))
    }
}
