import Testing
@testable import Cluster

@Suite("DistributionMode")
struct DistributionModeTests {
    @Test func modeNamesAreTheCommandLineSpellings() {
        #expect(DistributionMode.allCases.map(\.rawValue) == ["round-robin", "shared", "reuseport"])
        for mode in DistributionMode.allCases { #expect(DistributionMode(rawValue: mode.rawValue) == mode) }
        #expect(DistributionMode(rawValue: "roundrobin") == nil)
        #expect(DistributionMode(rawValue: "") == nil)
    }

    @Test func roundRobinIsTheFirstCase() {
        // A zeroed board header reads as the first case.
        #expect(DistributionMode.allCases.first == .roundRobin)
    }
}
