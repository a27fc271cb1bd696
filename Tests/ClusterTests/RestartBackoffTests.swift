import Testing
@testable import Cluster

@Suite("RestartBackoff") struct RestartBackoffTests {
    @Test func quickCrashesBackOffByHalfAgainUpToTheCap() {
        var b = RestartBackoff()
        var delays: [UInt64] = []
        for _ in 0..<14 {
            guard case .restart(let d) = b.workerExited(readyFor: 1_000_000_000) else { Issue.record("gave up"); return }
            delays.append(d / 1_000_000)
        }
        #expect(Array(delays.prefix(5)) == [100, 150, 225, 337, 506])
        #expect(delays.last == 15_000)
        #expect(delays.allSatisfy { $0 <= 15_000 })
    }

    @Test func aHealthyRunResetsTheDelay() {
        var b = RestartBackoff()
        _ = b.workerExited(readyFor: 1_000_000)
        _ = b.workerExited(readyFor: 1_000_000)
        #expect(b.workerExited(readyFor: 31_000_000_000) == .restart(afterNanoseconds: 100_000_000))
        #expect(b.workerExited(readyFor: 1_000_000) == .restart(afterNanoseconds: 150_000_000))
    }

    @Test func fiveBootFailuresInARowGiveUp() {
        var b = RestartBackoff()
        for _ in 0..<4 {
            guard case .restart = b.workerExited(readyFor: nil) else { Issue.record("gave up early"); return }
        }
        #expect(b.workerExited(readyFor: nil) == .giveUp(bootFailures: 5))
    }

    @Test func becomingReadyBreaksTheRow() {
        var b = RestartBackoff()
        for _ in 0..<4 { _ = b.workerExited(readyFor: nil) }
        b.workerBecameReady()
        #expect(b.consecutiveBootFailures == 0)
        for _ in 0..<4 {
            guard case .restart = b.workerExited(readyFor: nil) else { Issue.record("gave up"); return }
        }
    }
}
