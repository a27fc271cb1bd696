import Testing
@testable import URing

@Suite("AcceptBackoff")
struct AcceptBackoffTests {
    @Test func everyErrorWaitsAndTheWaitDoublesToItsCap() {
        var b = AcceptBackoff()
        let delays = (0..<10).map { _ in b.failed() }
        #expect(delays.allSatisfy { $0 > 0 }, "no error re-arms at once")
        #expect(delays[0] == AcceptBackoff.firstDelayNanoseconds)
        #expect(delays[1] == 2 * AcceptBackoff.firstDelayNanoseconds)
        #expect(zip(delays, delays.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(delays.last == AcceptBackoff.maxDelayNanoseconds)
    }

    @Test func anAcceptedConnectionStartsOver() {
        var b = AcceptBackoff()
        for _ in 0..<5 { _ = b.failed() }
        b.succeeded()
        #expect(b.consecutiveErrors == 0)
        #expect(b.failed() == AcceptBackoff.firstDelayNanoseconds)
    }

    @Test func manyErrorsInARowNeverOverflow() {
        var b = AcceptBackoff()
        for _ in 0..<10_000 { #expect(b.failed() <= AcceptBackoff.maxDelayNanoseconds) }
    }
}
