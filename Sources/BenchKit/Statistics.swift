/// The statistics the reports use, on plain numbers.
public enum Statistics {
    /// The median (mean of the two middle values for an even count); nil when empty.
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        let mid = s.count / 2
        return s.count % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
    }

    /// Jain's fairness index: (Σx)² / (n·Σx²). 1 when all equal, 1/n when one takes all.
    /// Defined as 1 for no load at all.
    public static func jain(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 1 }
        let sum = values.reduce(0, +)
        let squares = values.reduce(0) { $0 + $1 * $1 }
        guard squares > 0 else { return 1 }
        return sum * sum / (Double(values.count) * squares)
    }

    /// The share of the total taken by the two largest values (0...1); 0 for no load.
    public static func topTwoShare(_ values: [Double]) -> Double {
        let sum = values.reduce(0, +)
        guard sum > 0 else { return 0 }
        let top = values.sorted(by: >).prefix(2).reduce(0, +)
        return top / sum
    }

    /// Largest value over the mean (1 when even); 0 for no load.
    public static func maxOverMean(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        guard mean > 0 else { return 0 }
        return values.max()! / mean
    }
}
