import Testing
@testable import BenchKit

@Suite("Statistics")
struct StatisticsTests {
    @Test func medianOfOddCountIsTheMiddleValue() {
        #expect(Statistics.median([1, 2, 3, 4, 5]) == 3)
    }

    @Test func medianOfEvenCountIsTheMeanOfTheTwoMiddleValues() {
        #expect(Statistics.median([1, 2, 3, 4]) == 2.5)
        #expect(Statistics.median([10, 20]) == 15)
    }

    @Test func medianOfOneValueIsThatValue() {
        #expect(Statistics.median([42.5]) == 42.5)
    }

    @Test func medianOfNothingIsNil() {
        #expect(Statistics.median([]) == nil)
    }

    @Test func medianSortsItsInput() {
        #expect(Statistics.median([9, 1, 5, 3, 7]) == 5)
        #expect(Statistics.median([8, 2, 6, 4]) == 5)
        #expect(Statistics.median([3, -1, 2]) == 2)
    }

    @Test func jainIsOneWhenAllEqual() {
        #expect(Statistics.jain([1, 1, 1, 1]) == 1)
        #expect(Statistics.jain([7, 7, 7]) == 1)
    }

    @Test func jainIsOneOverNWhenOneTakesAll() {
        #expect(Statistics.jain([4, 0, 0, 0]) == 0.25)
        #expect(Statistics.jain([0, 9]) == 0.5)
    }

    @Test func jainOfOneTwoThreeIsThirtySixOverFortyTwo() {
        // (1+2+3)² / (3·(1+4+9)) = 36 / 42
        #expect(close(Statistics.jain([1, 2, 3]), 36.0 / 42.0))
    }

    @Test func jainOfNoLoadIsOne() {
        #expect(Statistics.jain([0, 0, 0]) == 1)
        #expect(Statistics.jain([]) == 1)
    }

    @Test func topTwoShareIsTheTwoLargestOverTheTotal() {
        #expect(close(Statistics.topTwoShare([5, 3, 2]), 0.8))
        #expect(close(Statistics.topTwoShare([2, 5, 1, 3]), 8.0 / 11.0))
    }

    @Test func topTwoShareOfASingleValueIsOne() {
        #expect(Statistics.topTwoShare([10]) == 1)
    }

    @Test func topTwoShareOfNoLoadIsZero() {
        #expect(Statistics.topTwoShare([0, 0, 0]) == 0)
        #expect(Statistics.topTwoShare([]) == 0)
    }

    @Test func maxOverMeanIsOneWhenEven() {
        #expect(Statistics.maxOverMean([2, 2]) == 1)
    }

    @Test func maxOverMeanIsTheLargestOverTheMean() {
        #expect(Statistics.maxOverMean([3, 1]) == 1.5)
        #expect(Statistics.maxOverMean([8, 0, 0, 0]) == 4)
    }

    @Test func maxOverMeanOfNoLoadIsZero() {
        #expect(Statistics.maxOverMean([0, 0]) == 0)
        #expect(Statistics.maxOverMean([]) == 0)
    }
}
