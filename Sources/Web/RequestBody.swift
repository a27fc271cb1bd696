import HTTPServer

/// A request body read in parts as it arrives (a `Router.streamingBody` route's), as an
/// async sequence of byte arrays:
///
///     var total = 0
///     for try await part in body { total += part.count }
///
/// Back-pressure is the connection's: at most `readAheadBytes` (64 KiB by default) of
/// parts wait here untaken, and reading from the socket pauses beyond that, so a body of
/// any length costs a bounded amount of memory. Throws CancellationError when the body is
/// cut (the client left, its chunked framing broke, or the handler answered first).
/// Single consumer, on the loop's thread (where the route's task runs).
public final class RequestBody: AsyncSequence, RequestBodySink, @unchecked Sendable {
    public typealias Element = [UInt8]

    let ticket: PendingResponse
    var parts: [[UInt8]] = []
    var first = 0
    var ended = false
    var wasCut = false
    var waiter: CheckedContinuation<[UInt8]?, any Error>?

    init(ticket: PendingResponse) {
        self.ticket = ticket
    }

    // MARK: RequestBodySink (the loop)

    public func part(_ bytes: UnsafeRawBufferPointer) {
        let part = Array(bytes)
        if let waiter {
            self.waiter = nil
            ticket.bodyTaken(part.count)
            waiter.resume(returning: part)
        } else {
            parts.append(part)
        }
    }

    public func end() {
        ended = true
        waiter?.resume(returning: nil)
        waiter = nil
    }

    public func cut() {
        wasCut = true
        waiter?.resume(throwing: CancellationError())
        waiter = nil
    }

    // MARK: Reading

    func next() async throws -> [UInt8]? {
        if first < parts.count {
            let part = parts[first]
            first += 1
            if first == parts.count {
                parts.removeAll(keepingCapacity: true)
                first = 0
            }
            ticket.bodyTaken(part.count)
            return part
        }
        if ended { return nil }
        if wasCut { throw CancellationError() }
        return try await withCheckedThrowingContinuation { waiter = $0 }
    }

    /// The whole body, refused beyond `limit` bytes (413).
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        var all: [UInt8] = []
        for try await part in self {
            guard all.count + part.count <= limit else { throw HTTPError(.contentTooLarge, "the body is over \(limit) bytes") }
            all += part
        }
        return all
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let body: RequestBody
        public mutating func next() async throws -> [UInt8]? { try await body.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
}
