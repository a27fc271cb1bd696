/// The worker's side of the hand-off bookkeeping (HandoffLedger is the primary's): which
/// descriptors of a hand-off message it adopts, which it refuses, and the position it
/// publishes as acknowledged.
///
/// Positions count every descriptor the primary sent this worker. The published position
/// says "everything below was adopted or refused": the primary closes its copies of those
/// it adopted and, for the ones it refused, keeps its copies and routes them elsewhere. A
/// refusal travels as a message, so until the primary confirms it (through the board), the
/// published position stays at the first unconfirmed refusal. And while one is unconfirmed
/// the worker adopts nothing after it: were it to die then, the primary would take back
/// everything from that position on, and must find none of it already served here.
struct HandoffIntake: Equatable {
    /// Hand-off positions received so far.
    private(set) var position = 0
    /// Where each refusal reported and not yet confirmed starts, oldest first.
    private(set) var unconfirmed: [Int] = []
    private(set) var confirmedSeen = 0

    struct Decision: Equatable {
        /// Adopt the first `adopt` descriptors that arrived; close the rest (if any arrived).
        var adopt: Int
        /// Report these positions refused (nil: nothing refused).
        var refused: (position: Int, count: Int)?

        static func == (a: Decision, b: Decision) -> Bool {
            a.adopt == b.adopt && a.refused?.position == b.refused?.position && a.refused?.count == b.refused?.count
        }
    }

    /// A hand-off of `count` descriptors arrived, of which the kernel delivered `arrived`
    /// (the rest were dropped at this worker's descriptor limit: always the last ones).
    mutating func received(count: Int, arrived: Int) -> Decision {
        let arrived = min(arrived, count)
        let adopt = unconfirmed.isEmpty ? arrived : 0
        var refused: (Int, Int)? = nil
        if adopt < count {
            refused = (position + adopt, count - adopt)
            unconfirmed.append(position + adopt)
        }
        position += count
        return Decision(adopt: adopt, refused: refused)
    }

    /// The primary has handled `total` refusal messages of this worker so far.
    mutating func confirmed(total: Int) {
        while confirmedSeen < total, !unconfirmed.isEmpty {
            unconfirmed.removeFirst()
            confirmedSeen += 1
        }
    }

    /// The position to publish.
    var processed: Int { unconfirmed.first ?? position }
}
