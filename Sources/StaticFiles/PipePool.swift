import URing

/// The pipes a loop's file transfers splice through, kept for reuse: making one costs
/// pipe2 and F_SETPIPE_SZ, two system calls per transfer otherwise. A pipe that may still
/// hold bytes (a transfer that failed midway) is closed, never given to the next one.
/// On the loop's thread only; at most `keep` idle pipes are held.
public final class PipePool: @unchecked Sendable {
    public let pipeBytes: Int
    let keep: Int
    var idle: [Pipe] = []

    /// `pipeBytes`: what each pipe asks for (F_SETPIPE_SZ; the kernel may give less). One
    /// fill and one drain move at most this much, each an io-wq step.
    public init(pipeBytes: Int = 1 << 20, keep: Int = 32) {
        self.pipeBytes = pipeBytes
        self.keep = keep
    }

    /// A pipe, or nil when none can be made (EMFILE): the caller then reads and sends.
    func take() -> Pipe? {
        if let p = idle.popLast() { return p }
        return try? Pipe.make(capacity: pipeBytes)
    }

    func give(_ pipe: Pipe, empty: Bool) {
        if empty && idle.count < keep {
            idle.append(pipe)
        } else {
            pipe.close()
        }
    }

    deinit { for p in idle { p.close() } }
}
