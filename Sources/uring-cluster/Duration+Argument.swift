import ArgumentParser

/// A time span given on the command line: `10` or `10s` (seconds), `250ms`, `1.5s`.
struct TimeSpan: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let nanoseconds: UInt64

    init(seconds: Double) { nanoseconds = UInt64(seconds * 1e9) }

    init?(argument: String) {
        var text = Substring(argument)
        var scale = 1e9
        if text.hasSuffix("ms") { text = text.dropLast(2); scale = 1e6 }
        else if text.hasSuffix("s") { text = text.dropLast(1) }
        guard let value = Double(text), value.isFinite, value > 0, value * scale < 1e15 else { return nil }
        nanoseconds = UInt64(value * scale)
    }

    var description: String {
        nanoseconds % 1_000_000_000 == 0 ? "\(nanoseconds / 1_000_000_000)s" : "\(nanoseconds / 1_000_000)ms"
    }
    var defaultValueDescription: String { description }
}
