import CLiburing
import Glibc
import Testing
@testable import URing

/// Whether this process may create an io_uring at all. Only EPERM (a seccomp or sysctl
/// ban, e.g. io_uring_disabled) and ENOSYS (no io_uring in the kernel) count as "not
/// permitted"; any other failure leaves the tests enabled so that they fail loudly.
let ioUringPermitted: Bool = {
    do throws(SystemError) {
        _ = try Ring(entries: 2)
        return true
    } catch {
        return error.errno != Errno(rawValue: EPERM) && error.errno != Errno(rawValue: ENOSYS)
    }
}()

@Suite("Ring", .enabled(if: ioUringPermitted, "io_uring_setup is not permitted here (EPERM or ENOSYS)"))
struct RingTests {
    @Test func createsWithOneOfTheDocumentedFlagCombinations() throws {
        let ring = try Ring(entries: 8)
        let submitAll = CLiburing_SETUP_SUBMIT_ALL()
        let documented: [UInt32] = [
            CLiburing_SETUP_SINGLE_ISSUER() | CLiburing_SETUP_DEFER_TASKRUN() | submitAll,
            CLiburing_SETUP_COOP_TASKRUN() | CLiburing_SETUP_TASKRUN_FLAG() | submitAll,
            submitAll,
            0,
        ]
        #expect(documented.contains(ring.setupFlags), "setupFlags \(String(ring.setupFlags, radix: 16))")
        // CQSIZE is how the ring is sized, not one of the reported behaviour flags.
        #expect(ring.setupFlags & UInt32(IORING_SETUP_CQSIZE) == 0)
        // The completion queue is four times the submission queue.
        #expect(ring.pointer.pointee.sq.ring_entries == 8)
        #expect(ring.pointer.pointee.cq.ring_entries == 32)
    }

    /// Runs the ring until `count` completions arrived (bounded: a broken ring fails, never hangs).
    static func collect(_ ring: Ring, _ count: Int) throws -> [Completion] {
        var completions: [Completion] = []
        for _ in 0..<200 where completions.count < count {
            try ring.submitAndWait(1)
            ring.drainCompletions { completions.append($0) }
        }
        return completions
    }

    @Test func timeoutCompletesWithETIMEAndItsUserData() throws {
        let ring = try Ring(entries: 8)
        let userData = UserData(kind: 0xA5, generation: 0x12_3456, index: 0xDEAD_BEEF)
        let start = monotonicNanoseconds()
        ring.timeout(nanoseconds: 1_000_000, userData: userData)
        let completions = try Self.collect(ring, 1)
        let elapsed = monotonicNanoseconds() - start

        #expect(completions.count == 1)
        let c = try #require(completions.first)
        #expect(c.userData == userData)
        #expect(c.result == -ETIME)
        #expect(c.timer == .fired)
        #expect(c.error == .timeout)
        // The timer ran for (about) its 1 ms, not zero.
        #expect(elapsed >= 900_000)
        // Nothing else is pending afterwards.
        #expect(ring.drainCompletions { _ in } == 0)
    }

    /// Timer values live in the ring, one per submission slot: timeouts prepared together
    /// keep their own values, so they fire in the order of their durations.
    @Test func timeoutsPreparedTogetherKeepTheirOwnDurations() throws {
        let ring = try Ring(entries: 8)
        let durations: [UInt64] = [60_000_000, 2_000_000, 20_000_000]
        for (k, d) in durations.enumerated() { ring.timeout(nanoseconds: d, userData: UserData(kind: 1, index: UInt32(k))) }
        let order = try Self.collect(ring, 3).map { Int($0.userData.index) }
        #expect(order == [1, 2, 0])
    }

    @Test func aRemovedTimerCompletesCanceled() throws {
        let ring = try Ring(entries: 8)
        let timer = UserData(kind: 1)
        ring.timeout(nanoseconds: 10_000_000_000, userData: timer)
        ring.removeTimeout(timer, userData: UserData(kind: 2))
        let completions = try Self.collect(ring, 2)
        #expect(completions.first { $0.userData == timer }?.timer == .canceled)
        #expect(completions.first { $0.userData.kind == 2 }?.result == 0)
    }

    @Test func drainCountsEveryCompletionAcrossSeveralTimeouts() throws {
        let ring = try Ring(entries: 8)
        for k in 0..<3 { ring.timeout(nanoseconds: 200_000, userData: UserData(kind: 1, index: UInt32(k))) }
        var seen: [UInt32] = []
        for _ in 0..<50 where seen.count < 3 {
            try ring.submitAndWait(UInt32(3 - seen.count))
            let n = ring.drainCompletions { c in
                #expect(c.timer == .fired)
                seen.append(c.userData.index)
            }
            #expect(n <= 3)
        }
        #expect(seen.sorted() == [0, 1, 2])
    }

    @Test func aCloseOnTheRingReportsItsResult() throws {
        let ring = try Ring(entries: 8)
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        let identity = fileIdentity(fds[0])
        ring.close(fds[0], userData: UserData(kind: 3))
        closeDescriptor(fds[1])
        let c = try #require(try Self.collect(ring, 1).first)
        let before = identity
        #expect(before != nil)
        #expect(c.closed())
        #expect(fileIdentity(fds[0]) != before, "the descriptor is gone (or reused by another test for another file)")
    }
}

/// A close that finds no descriptor is a bug: reported, and a trap in the test build. Run
/// in a child process (an exit test), since the trap ends the process.
@Suite("Closing")
struct ClosingTests {
    @Test func aDoubleCloseTraps() async {
        await #expect(processExitsWith: .failure) {
            var fds: [Int32] = [-1, -1]
            _ = pipe(&fds)
            closeDescriptor(fds[0])
            closeDescriptor(fds[0])
        }
    }

    @Test func aRingCloseOfNoDescriptorTraps() async {
        await #expect(processExitsWith: .failure) {
            let ring = try! Ring(entries: 4)
            ring.close(1_000_000, userData: UserData(kind: 1))
            try! ring.submitAndWait(1)
            ring.drainCompletions { $0.closed() }
        }
    }

    @Test func aCloseThatWorksDoesNotTrap() {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        let identity = fileIdentity(fds[1])
        closeDescriptor(fds[0])
        closeDescriptor(fds[1])
        #expect(identity != nil && fileIdentity(fds[1]) != identity)
    }
}

/// The file a descriptor refers to (device and inode), or nil if it is not open. Tests run
/// in parallel, so a closed number may already name another test's file: compare this, not
/// whether the number is open.
func fileIdentity(_ fd: Int32) -> [UInt64]? {
    var st = stat()
    guard fstat(fd, &st) == 0 else { return nil }
    return [UInt64(st.st_dev), UInt64(st.st_ino)]
}
