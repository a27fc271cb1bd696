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
    /// The UserData kind of this responder's completions (index 0: a send; 1: a close that failed).
    let kind: UInt8
    static let capacity = 256

    /// `kind`: a UserData kind of the owner's ring, whose completions go to `complete`.
    public init(kind: UInt8) {
        self.kind = kind
        bytes = .allocate(byteCount: Self.capacity, alignment: 8)
    }

    deinit { bytes.deallocate() }

    /// Answers `file` 503 and closes it. The send completes (pass it to `complete`); the
    /// close posts a completion only if it fails.
    public func answer(_ file: Descriptor, ring: Ring, date: UnsafeRawPointer?) {
        guard file.isDirect else {
            Unavailable.answer(file.value, date: date)
            return
        }
        if inFlight == 0 && renderedSecond != wallClockSeconds() { render(date) }
        ring.send(file, bytes, count: count, userData: UserData(kind: kind, index: 0),
                  thenClose: true, closeUserData: UserData(kind: kind, index: 1))
        inFlight += 1
    }

    /// A completion of this responder's kind: its send ended, or its close failed.
    public func complete(_ c: Completion) {
        if c.userData.index == 0 { inFlight -= 1 } else { c.closed() }
    }

    func render(_ date: UnsafeRawPointer?) {
        renderedSecond = wallClockSeconds()
        var out = RawBuffer(capacity: Self.capacity)
        defer { out.release() }
        Unavailable.render(into: &out, date: date)
        count = min(out.count, Self.capacity)
        if let base = out.base { bytes.copyMemory(from: base, byteCount: count) }
    }
}
