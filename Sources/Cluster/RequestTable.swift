/// A worker's requests to its primary that await their reply: each one's continuation and
/// deadline, by id. Resolved exactly once: by the reply, the deadline, a cancel, or the
/// primary's loss. Touched on the worker's loop thread only.
struct RequestTable {
    struct Pending {
        let deadline: UInt64
        let continuation: CheckedContinuation<[UInt8], any Error>
    }

    private(set) var pending: [UInt64: Pending] = [:]
    /// The earliest deadline, so that a turn with nothing due costs one comparison.
    private var earliest = UInt64.max
    private(set) var nextID: UInt64 = 0

    mutating func newID() -> UInt64 {
        nextID &+= 1
        return nextID
    }

    /// Adds a request. (Its cancel, which always comes later through a task on the loop,
    /// finds it here; a cancel after its reply or deadline finds nothing to do.)
    mutating func add(id: UInt64, deadline: UInt64, _ continuation: CheckedContinuation<[UInt8], any Error>) {
        pending[id] = Pending(deadline: deadline, continuation: continuation)
        earliest = min(earliest, deadline)
    }

    mutating func replied(id: UInt64, outcome: ClusterMessage.ReplyOutcome, payload: [UInt8]) {
        // A reply after its deadline or cancel finds nothing: already resolved.
        guard let p = pending.removeValue(forKey: id) else { return }
        switch outcome {
        case .answered: p.continuation.resume(returning: payload)
        case .noHandler: p.continuation.resume(throwing: ClusterRequestError.noHandler(String(decoding: payload, as: UTF8.self)))
        case .failed: p.continuation.resume(throwing: ClusterRequestError.failed(String(decoding: payload, as: UTF8.self)))
        }
    }

    mutating func cancel(id: UInt64) {
        pending.removeValue(forKey: id)?.continuation.resume(throwing: CancellationError())
    }

    mutating func expire(now: UInt64) {
        guard now >= earliest else { return }
        earliest = .max
        for (id, p) in pending {
            if now >= p.deadline {
                pending.removeValue(forKey: id)
                p.continuation.resume(throwing: ClusterRequestError.timedOut)
            } else {
                earliest = min(earliest, p.deadline)
            }
        }
    }

    mutating func failAll(_ error: ClusterRequestError) {
        let all = pending
        pending.removeAll()
        earliest = .max
        for (_, p) in all { p.continuation.resume(throwing: error) }
    }
}

/// Why a request to the primary got no reply.
public enum ClusterRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No reply came within the timeout.
    case timedOut
    /// The primary has no `onRequest` handler for this request type (its name).
    case noHandler(String)
    /// The primary's handler threw (its description).
    case failed(String)
    /// The reply could not be decoded as the expected type.
    case badReply(String)
    /// The request could not be sent: too large, or not encodable.
    case unsendable(String)
    /// The primary is gone.
    case primaryGone
    /// Only a worker that serves asks its primary.
    case notAWorker

    public var description: String {
        switch self {
        case .timedOut: "the primary did not reply in time"
        case .noHandler(let name): "the primary has no handler for \(name) requests"
        case .failed(let text): "the primary's handler failed: \(text)"
        case .badReply(let text): "the reply was not the expected type: \(text)"
        case .unsendable(let text): "the request cannot be sent: \(text)"
        case .primaryGone: "the primary is gone"
        case .notAWorker: "requests go from a serving worker to its primary"
        }
    }
}
