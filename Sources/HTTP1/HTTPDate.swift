/// The IMF-fixdate of RFC 9110 §5.6.7 ("Sun, 06 Nov 1994 08:49:37 GMT"), computed from
/// epoch seconds without the C library or allocation. Callers cache it per second.
public enum HTTPDate {
    public static let length = 29

    static let dayNames: StaticString = "ThuFriSatSunMonTueWed"  // 1970-01-01 was a Thursday
    static let monthNames: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"

    /// Writes exactly 29 bytes at `out`.
    /// Seconds outside years 0...9999 (a file's mtime can be anything) are clamped: the
    /// format has four year digits.
    public static func format(epochSeconds: Int, into out: UnsafeMutableRawPointer) {
        let (days, secs, y, m, d) = broken(epochSeconds)
        let weekday = ((days % 7) + 7) % 7
        var i = 0
        func put(_ c: UInt8) { out.storeBytes(of: c, toByteOffset: i, as: UInt8.self); i += 1 }
        func two(_ v: Int) { put(UInt8(48 + v / 10)); put(UInt8(48 + v % 10)) }
        for k in 0..<3 { put(dayNames.utf8Start[weekday * 3 + k]) }
        put(44); put(32)
        two(d); put(32)
        for k in 0..<3 { put(monthNames.utf8Start[(m - 1) * 3 + k]) }
        put(32)
        two(y / 100); two(y % 100); put(32)
        two(secs / 3600); put(58); two(secs / 60 % 60); put(58); two(secs % 60)
        put(32); put(71); put(77); put(84)  // " GMT"
    }

    /// The common log format's time, `03/Dec/2026:14:54:07 +0000` (always UTC).
    public static let commonLogLength = 26
    public static func formatCommonLog(epochSeconds: Int, into out: UnsafeMutableRawPointer) {
        let (days, secs, y, m, d) = broken(epochSeconds)
        var i = 0
        func put(_ c: UInt8) { out.storeBytes(of: c, toByteOffset: i, as: UInt8.self); i += 1 }
        func two(_ v: Int) { put(UInt8(48 + v / 10)); put(UInt8(48 + v % 10)) }
        two(d); put(47)
        for k in 0..<3 { put(monthNames.utf8Start[(m - 1) * 3 + k]) }
        put(47); two(y / 100); two(y % 100)
        put(58); two(secs / 3600); put(58); two(secs / 60 % 60); put(58); two(secs % 60)
        for c in " +0000".utf8 { put(c) }
    }

    /// RFC 3339 in UTC, `2026-12-03T14:54:07Z`, for JSON lines.
    public static let isoLength = 20
    public static func formatISO(epochSeconds: Int, into out: UnsafeMutableRawPointer) {
        let (days, secs, y, m, d) = broken(epochSeconds)
        var i = 0
        func put(_ c: UInt8) { out.storeBytes(of: c, toByteOffset: i, as: UInt8.self); i += 1 }
        func two(_ v: Int) { put(UInt8(48 + v / 10)); put(UInt8(48 + v % 10)) }
        two(y / 100); two(y % 100); put(45); two(m); put(45); two(d)
        put(84); two(secs / 3600); put(58); two(secs / 60 % 60); put(58); two(secs % 60); put(90)
    }

    /// Days since the epoch, seconds into the day, and the civil date, of a time clamped
    /// to years 0...9999 (four digits in every format here).
    static func broken(_ epochSeconds: Int) -> (days: Int, secs: Int, year: Int, month: Int, day: Int) {
        let epochSeconds = min(max(epochSeconds, -62_167_219_200), 253_402_300_799)
        let days = epochSeconds >= 0 ? epochSeconds / 86400 : (epochSeconds - 86399) / 86400
        let (y, m, d) = civil(fromDays: days)
        return (days, epochSeconds - days * 86400, y, m, d)
    }

    /// Proleptic Gregorian date from days since 1970-01-01 (Howard Hinnant's algorithm).
    static func civil(fromDays z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

extension HTTPDate {
    /// Parses an IMF-fixdate, the form `format` writes, to seconds since the epoch; nil
    /// for anything else (the obsolete RFC 850 and asctime forms included: a recipient that
    /// ignores a date only answers in full).
    public static func parse(_ value: UnsafeRawBufferPointer) -> Int64? {
        guard value.count == length, value[3] == UInt8(ascii: ","), value[4] == 32, value[7] == 32, value[11] == 32,
              value[16] == 32, value[19] == UInt8(ascii: ":"), value[22] == UInt8(ascii: ":"), value[25] == 32,
              value[26] == UInt8(ascii: "G"), value[27] == UInt8(ascii: "M"), value[28] == UInt8(ascii: "T"),
              name(value, at: 0, in: dayNames) != nil, let month = name(value, at: 8, in: monthNames),
              let day = digits(value, 5, 2), let year = digits(value, 12, 4), let hour = digits(value, 17, 2),
              let minute = digits(value, 20, 2), let second = digits(value, 23, 2),
              (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        return Int64(days(year: year, month: month + 1, day: day)) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// Which three-letter name of `names` stands at `offset`.
    static func name(_ v: UnsafeRawBufferPointer, at offset: Int, in names: StaticString) -> Int? {
        for k in 0..<names.utf8CodeUnitCount / 3 where
            v[offset] == names.utf8Start[k * 3] && v[offset + 1] == names.utf8Start[k * 3 + 1]
            && v[offset + 2] == names.utf8Start[k * 3 + 2] {
            return k
        }
        return nil
    }

    static func digits(_ v: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> Int? {
        var n = 0
        for i in offset..<offset + count {
            guard v[i] >= 48 && v[i] <= 57 else { return nil }
            n = n * 10 + Int(v[i] - 48)
        }
        return n
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date: `civil(fromDays:)` inverted.
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
