/// The IMF-fixdate of RFC 9110 §5.6.7 ("Sun, 06 Nov 1994 08:49:37 GMT"), computed from
/// epoch seconds without the C library or allocation. Callers cache it per second.
public enum HTTPDate {
    public static let length = 29

    static let dayNames: StaticString = "ThuFriSatSunMonTueWed"  // 1970-01-01 was a Thursday
    static let monthNames: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"

    /// Writes exactly 29 bytes at `out`.
    public static func format(epochSeconds: Int, into out: UnsafeMutableRawPointer) {
        let days = epochSeconds >= 0 ? epochSeconds / 86400 : (epochSeconds - 86399) / 86400
        let secs = epochSeconds - days * 86400
        let (y, m, d) = civil(fromDays: days)
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
