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

    @Test func timeoutCompletesWithETIMEAndItsUserData() throws {
        let ring = try Ring(entries: 8)
        let timespec = UnsafeMutablePointer<__kernel_timespec>.allocate(capacity: 1)
        defer { timespec.deallocate() }
        timespec.initialize(to: __kernel_timespec(tv_sec: 0, tv_nsec: 1_000_000))
        let userData = UserData(kind: 0xA5, generation: 0x12_3456, index: 0xDEAD_BEEF)

        let sqe = ring.sqe()
        io_uring_prep_timeout(sqe, timespec, 0, 0)
        io_uring_sqe_set_data64(sqe, userData.rawValue)

        var completions: [(UInt64, Int32, UInt32)] = []
        let start = monotonicNanoseconds()
        // submitAndWait may return early (EINTR); a few rounds are allowed, never a hang.
        for _ in 0..<50 where completions.isEmpty {
            try ring.submitAndWait(1)
            ring.drainCompletions { completions.append(($0, $1, $2)) }
        }
        let elapsed = monotonicNanoseconds() - start

        #expect(completions.count == 1)
        let c = try #require(completions.first)
        #expect(c.0 == userData.rawValue)
        #expect(UserData(rawValue: c.0) == userData)
        #expect(c.1 == -ETIME)
        #expect(Errno(negatedResult: c.1) == .timerExpired)
        // The timer ran for (about) its 1 ms, not zero.
        #expect(elapsed >= 900_000)
        // Nothing else is pending afterwards.
        #expect(ring.drainCompletions { _, _, _ in } == 0)
    }

    @Test func drainCountsEveryCompletionAcrossSeveralTimeouts() throws {
        let ring = try Ring(entries: 8)
        let specs = UnsafeMutablePointer<__kernel_timespec>.allocate(capacity: 3)
        defer { specs.deallocate() }
        for k in 0..<3 {
            specs[k] = __kernel_timespec(tv_sec: 0, tv_nsec: 200_000)
            let sqe = ring.sqe()
            io_uring_prep_timeout(sqe, specs + k, 0, 0)
            io_uring_sqe_set_data64(sqe, UserData(kind: 1, index: UInt32(k)).rawValue)
        }
        var seen: [UInt32] = []
        for _ in 0..<50 where seen.count < 3 {
            try ring.submitAndWait(UInt32(3 - seen.count))
            let n = ring.drainCompletions { ud, res, _ in
                #expect(res == -ETIME)
                seen.append(UserData(rawValue: ud).index)
            }
            #expect(n <= 3)
        }
        #expect(seen.sorted() == [0, 1, 2])
    }
}
