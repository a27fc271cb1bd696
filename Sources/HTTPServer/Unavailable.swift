import HTTP1
import URing

/// The one 503 answer for a connection that no one will serve: a worker at
/// `--max-connections`, or a primary whose queue is full, timed out or stopping. Written
/// without blocking (best effort: the socket is new, its buffer empty), then closed.
public enum Unavailable {
    /// Answers `fd` 503 with `Connection: close` and closes it. `date` is a cached
    /// IMF-fixdate; without one (a primary, rarely here) the current time is formatted.
    public static func answer(_ fd: Int32, date: UnsafeRawPointer? = nil) {
        var out = RawBuffer(capacity: 256)
        defer { out.release() }
        if let date {
            ResponseWriter.writeError(into: &out, status: .serviceUnavailable, date: date)
        } else {
            withUnsafeTemporaryAllocation(byteCount: HTTPDate.length, alignment: 8) { now in
                HTTPDate.format(epochSeconds: wallClockSeconds(), into: now.baseAddress!)
                ResponseWriter.writeError(into: &out, status: .serviceUnavailable, date: now.baseAddress!)
            }
        }
        if let base = out.base { Socket.sendNow(fd, base, count: out.count) }
        closeDescriptor(fd)
    }
}
