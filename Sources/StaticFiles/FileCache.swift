import URing

/// Small files kept in memory with their validators, per loop (a file server's own): a hit
/// is answered inside the handler's call, with no ring operation, no task and no system
/// call; nginx's open_file_cache keeps descriptors, this keeps the bytes too.
///
/// An entry is trusted for `revalidateNanoseconds` (1 s by default) after it was last
/// checked; the first request after that opens and stats the file again through the ring,
/// and keeps the entry if its ETag is unchanged, or reads it again. So a changed file is
/// served stale for at most that long. What an entry holds was opened beneath the root, so
/// a path swapped for a symlink out of it can at worst get the old, inside content.
///
/// Bounded: files up to `maxFileBytes` (64 KiB), `maxTotalBytes` (8 MiB) in all; a full
/// cache evicts entries arbitrarily. On the loop's thread only.
public final class FileCache: @unchecked Sendable {
    struct Entry {
        var etag: [UInt8]
        var modifiedSeconds: Int64
        /// ETag, Last-Modified and Accept-Ranges, as header lines.
        var lines: [UInt8]
        var body: [UInt8]
        var contentType: StaticString
        var checked: UInt64
    }

    public let maxFileBytes: Int
    public let maxTotalBytes: Int
    public let revalidateNanoseconds: UInt64
    var entries: [[UInt8]: Entry] = [:]
    /// The budget used: bodies, keys, lines and per-entry overhead (`cost`).
    public private(set) var totalBytes = 0

    public init(maxFileBytes: Int = 64 * 1024, maxTotalBytes: Int = 8 << 20, revalidateNanoseconds: UInt64 = 1_000_000_000) {
        self.maxFileBytes = maxFileBytes
        self.maxTotalBytes = maxTotalBytes
        self.revalidateNanoseconds = revalidateNanoseconds
    }

    /// The entry for `key` if it was checked within the revalidation time.
    func fresh(_ key: [UInt8], now: UInt64) -> Entry? {
        guard let e = entries[key], now &- e.checked < revalidateNanoseconds else { return nil }
        return e
    }

    func entry(_ key: [UInt8]) -> Entry? { entries[key] }

    /// The entry was found unchanged at `now`.
    func confirm(_ key: [UInt8], now: UInt64) { entries[key]?.checked = now }

    /// What an entry costs against the budget: its bytes, its key and lines, and a
    /// constant for the table's own (so empty files under endless names are bounded too).
    static func cost(_ key: [UInt8], _ entry: Entry) -> Int { entry.body.count + entry.lines.count + key.count + 128 }

    func store(_ key: [UInt8], _ entry: Entry) {
        let cost = Self.cost(key, entry)
        guard entry.body.count <= maxFileBytes, cost <= maxTotalBytes else { return }
        remove(key)
        // An arbitrary victim (the table's first, found in its bucket bitmap), not the
        // oldest: a client asking for many names must not make each store a scan of the
        // entries themselves.
        while totalBytes + cost > maxTotalBytes, let victim = entries.first {
            remove(victim.key)
        }
        entries[key] = entry
        totalBytes += cost
    }

    func remove(_ key: [UInt8]) {
        if let old = entries.removeValue(forKey: key) { totalBytes -= Self.cost(key, old) }
    }

    public var count: Int { entries.count }
}
