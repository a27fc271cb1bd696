import Glibc
import Testing
@testable import Cluster

@Suite("ExitStatus")
struct ExitStatusTests {
    @Test func exitCodeIsTheSecondByte() {
        #expect(ExitStatus(waitStatus: 0) == .exited(code: 0))
        #expect(ExitStatus(waitStatus: 3 << 8) == .exited(code: 3))
        #expect(ExitStatus(waitStatus: 1 << 8) == .exited(code: 1))
        #expect(ExitStatus(waitStatus: 255 << 8) == .exited(code: 255))
    }

    @Test func terminatingSignalIsTheLowSevenBits() {
        #expect(ExitStatus(waitStatus: 9) == .signaled(signal: 9))
        #expect(ExitStatus(waitStatus: 15) == .signaled(signal: 15))
        #expect(ExitStatus(waitStatus: SIGINT) == .signaled(signal: SIGINT))
    }

    @Test func coreDumpFlagDoesNotChangeTheSignal() {
        // WCOREDUMP sets 0x80 next to the signal number.
        #expect(ExitStatus(waitStatus: 0x80 | SIGSEGV) == .signaled(signal: SIGSEGV))
        #expect(ExitStatus(waitStatus: 0x80 | SIGABRT) == .signaled(signal: SIGABRT))
    }

    @Test func descriptionMentionsTheCode() {
        #expect(ExitStatus.exited(code: 0).description == "exited with code 0")
        #expect(ExitStatus.exited(code: 3).description == "exited with code 3")
        #expect(ExitStatus.exited(code: 3).description.contains("3"))
    }

    @Test func descriptionMentionsTheSignalNumberAndName() {
        let killed = ExitStatus.signaled(signal: 9).description
        #expect(killed.contains("9"))
        #expect(killed.contains(String(cString: strsignal(SIGKILL))))
        #expect(killed == "killed by signal 9 (\(String(cString: strsignal(9))))")
        let terminated = ExitStatus.signaled(signal: 15).description
        #expect(terminated.contains("15"))
        #expect(terminated.contains(String(cString: strsignal(SIGTERM))))
    }

    /// Runs `/bin/sh -c script` and returns its raw wait status.
    static func waitStatus(ofShell script: String) throws -> Int32 {
        let arguments = ["/bin/sh", "-c", script]
        var pointers: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        var environment: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { for p in environment { free(p) } }
        // Default dispositions and an empty mask, whatever the test runner set.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", nil, &attributes, &pointers, &environment)
        try #require(rc == 0, "posix_spawn: \(rc)")
        var status: Int32 = 0
        var r: pid_t
        repeat { r = waitpid(pid, &status, 0) } while r == -1 && errno == EINTR
        try #require(r == pid)
        return status
    }

    @Test func aRealChildThatExitsWithSeven() throws {
        let status = try Self.waitStatus(ofShell: "exit 7")
        #expect(ExitStatus(waitStatus: status) == .exited(code: 7))
    }

    @Test func aRealChildThatExitsNormally() throws {
        let status = try Self.waitStatus(ofShell: "exit 0")
        #expect(ExitStatus(waitStatus: status) == .exited(code: 0))
    }

    @Test func aRealChildKilledBySignalNine() throws {
        let status = try Self.waitStatus(ofShell: "kill -9 $$")
        let decoded = ExitStatus(waitStatus: status)
        #expect(decoded == .signaled(signal: SIGKILL))
        #expect(decoded.description.contains("9"))
    }

    @Test func aRealChildKilledBySignalFifteen() throws {
        let status = try Self.waitStatus(ofShell: "kill -TERM $$")
        #expect(ExitStatus(waitStatus: status) == .signaled(signal: SIGTERM))
    }
}
