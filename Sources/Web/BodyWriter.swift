import HTTPServer

/// What a streamed response's producer writes its body with (`Response.stream`). Each
/// part is copied into the connection's output at once; `write` returns when the producer
/// may go on, which is later when the client reads slowly.
public struct BodyWriter: Sendable {
    let ticket: PendingResponse
    /// Bytes written so far (what a request log reports).
    let written = WrittenCount()

    final class WrittenCount: @unchecked Sendable {
        // The loop's thread only, where the producer runs.
        var bytes = 0
    }

    /// Writes a part; throws CancellationError once the connection is gone (stop producing).
    public func write(_ bytes: [UInt8]) async throws {
        let outcome = bytes.withUnsafeBytes { ticket.write($0) }
        switch outcome {
        case .written(let full):
            written.bytes += bytes.count
            if full { try await ticket.waitForRoom() }
        case .gone:
            throw CancellationError()
        }
    }

    public func write(_ text: String) async throws {
        try await write(Array(text.utf8))
    }
}
