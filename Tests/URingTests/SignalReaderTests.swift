import Glibc
import Testing
@testable import URing

/// Undoes a reader's block of `signal` on this thread (other tests run on it later).
func unblock(_ signal: Int32) {
    var mask = sigset_t()
    sigemptyset(&mask)
    sigaddset(&mask, signal)
    pthread_sigmask(SIG_UNBLOCK, &mask, nil)
}

@Suite("SignalReader", .enabled(if: ioUringPermitted, "io_uring_setup is not permitted here"))
struct SignalReaderTests {
    /// A signal sent to this thread arrives as a read on the ring. SIGWINCH, directed at
    /// this thread alone: the other test threads never see it.
    @Test func aSignalArrivesAsACompletion() throws {
        let reader = try SignalReader([SIGWINCH])
        defer { unblock(SIGWINCH) }
        #expect(fcntl(reader.descriptor, F_GETFD) & FD_CLOEXEC != 0)
        let ring = try Ring(entries: 8)
        reader.arm(ring, userData: UserData(kind: 9))
        #expect(!SignalReader.isPending([SIGWINCH]))
        #expect(pthread_kill(pthread_self(), SIGWINCH) == 0)
        #expect(SignalReader.isPending([SIGWINCH]))
        var delivered: [Int32] = []
        for _ in 0..<50 where delivered.isEmpty {
            try ring.submitAndWait(1)
            ring.drainCompletions { c in
                #expect(c.userData.kind == 9)
                if let s = reader.signal(in: c) { delivered.append(s) }
            }
        }
        #expect(delivered == [SIGWINCH])
        #expect(!SignalReader.isPending([SIGWINCH]))
    }

    @Test func aShortReadIsNoSignal() throws {
        let reader = try SignalReader([SIGWINCH])
        #expect(reader.signal(in: Completion(userData: UserData(kind: 1), result: -EAGAIN, flags: 0)) == nil)
        #expect(reader.signal(in: Completion(userData: UserData(kind: 1), result: 4, flags: 0)) == nil)
    }
}

/// Process-directed, with other threads about that do not block the signal (this test
/// process's pool, as under an async main): the signal still reaches the reader's ring.
/// SIGURG, not the other suite's SIGWINCH: suites run in parallel, and a process-directed
/// signal is pending for every thread.
@Suite("SignalReader beside other threads", .serialized, .enabled(if: ioUringPermitted, "io_uring_setup is not permitted here"))
struct SignalReaderBesideThreadsTests {
    @Test func aSignalToTheProcessReachesTheReaderNotAnotherThread() throws {
        // A thread that exists before the reader and never blocks the signal.
        var bystander = pthread_t()
        #expect(pthread_create(&bystander, nil, { _ in sleep(3); return nil }, nil) == 0)
        pthread_detach(bystander)
        let reader = try SignalReader([SIGURG])
        defer { unblock(SIGURG) }
        let ring = try Ring(entries: 8)
        reader.arm(ring, userData: UserData(kind: 9))
        ring.timeout(nanoseconds: 2_000_000_000, userData: UserData(kind: 10))
        #expect(kill(getpid(), SIGURG) == 0)
        var delivered: [Int32] = []
        var timedOut = false
        while delivered.isEmpty && !timedOut {
            try ring.submitAndWait(1)
            ring.drainCompletions { c in
                if c.userData.kind == 10 { timedOut = true }
                if c.userData.kind == 9, let s = reader.signal(in: c) { delivered.append(s) }
            }
        }
        #expect(delivered == [SIGURG], "read on the ring before the 2 s bound")
    }
}
