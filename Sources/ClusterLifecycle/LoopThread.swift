import Glibc
import URing

/// A loop's own thread, awaited from async code. A loop blocks its thread for its whole
/// life (in io_uring_enter), so it cannot run on the cooperative pool, which has one thread
/// per core (it would take one of this machine's two); and its ring must be made on the
/// thread that runs it (SINGLE_ISSUER), so everything the loop owns is made in `body`.
enum LoopThread {
    /// Runs `body` on a new thread; returns (or throws) when it does.
    static func run(_ body: @escaping () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let start = Unmanaged.passRetained(Start(body: body, continuation: continuation))
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { argument in
                let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
                do {
                    try start.body()
                    start.continuation.resume()
                } catch {
                    start.continuation.resume(throwing: error)
                }
                return nil
            }, start.toOpaque())
            guard rc == 0 else {
                start.release()
                continuation.resume(throwing: SystemError("pthread_create", Errno(rawValue: rc)))
                return
            }
            pthread_detach(thread)
        }
    }

    /// What the new thread runs and whom it tells: made on the caller's thread, used only
    /// on the new one.
    final class Start: @unchecked Sendable {
        let body: () throws -> Void
        let continuation: CheckedContinuation<Void, any Error>
        init(body: @escaping () throws -> Void, continuation: CheckedContinuation<Void, any Error>) {
            self.body = body
            self.continuation = continuation
        }
    }
}
