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
        render(into: &out, date: date)
        if let base = out.base { Socket.sendNow(fd, base, count: out.count) }
        closeDescriptor(fd)
    }

    static func render(into out: inout RawBuffer, date: UnsafeRawPointer?) {
        if let date {
            ResponseWriter.writeError(into: &out, status: .serviceUnavailable, date: date)
        } else {
            withUnsafeTemporaryAllocation(byteCount: HTTPDate.length, alignment: 8) { now in
                HTTPDate.format(epochSeconds: wallClockSeconds(), into: now.baseAddress!)
                ResponseWriter.writeError(into: &out, status: .serviceUnavailable, date: now.baseAddress!)
            }
        }
    }
}

/// The same 503 for a direct descriptor, which has no synchronous form: one send on the
/// ring, hard-linked to the close of the slot. The bytes live here, rendered again only
/// when the second has changed and no send of them is in flight, so no answer allocates.
/// A process descriptor is still answered synchronously (`Unavailable.answer`).
public final class UnavailableResponder {
    let bytes: UnsafeMutableRawPointer
    var count = 0
    var renderedSecond = -1
    /// Sends of the bytes still in flight: the loop that owns this waits for them before it ends.
    public private(set) var inFlight = 0
    static let capacity = 256

    public init() {
        bytes = .allocate(byteCount: Self.capacity, alignment: 8)
    }

    deinit { bytes.deallocate() }

    /// Answers `file` 503 and closes it. The send completes with `sendUserData` (pass it to
    /// `sendCompleted`); the close posts a completion (with `closeUserData`) only if it fails.
    public func answer(_ file: Descriptor, ring: Ring, date: UnsafeRawPointer?, sendUserData: UserData, closeUserData: UserData) {
        guard file.isDirect else {
            Unavailable.answer(file.value, date: date)
            return
        }
        if inFlight == 0 && renderedSecond != wallClockSeconds() { render(date) }
        ring.send(file, bytes, count: count, userData: sendUserData, thenClose: true, closeUserData: closeUserData)
        inFlight += 1
    }

    public func sendCompleted() { inFlight -= 1 }

    func render(_ date: UnsafeRawPointer?) {
        renderedSecond = wallClockSeconds()
        var out = RawBuffer(capacity: Self.capacity)
        defer { out.release() }
        Unavailable.render(into: &out, date: date)
        count = min(out.count, Self.capacity)
        if let base = out.base { bytes.copyMemory(from: base, byteCount: count) }
    }
}
