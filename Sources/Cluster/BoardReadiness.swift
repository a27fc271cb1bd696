import HTTPServer

/// A cluster worker's readiness (`/readyz`), read from the shared board: the primary is
/// not draining (a stop, from its first signal, `--drain-delay` included), and at least
/// one worker is listening. It does not depend on the answering worker itself: a worker
/// being replaced in a rolling restart (SIGHUP) still says ready while its replacement
/// serves, so a balancer keeps the host in rotation through the roll.
final class BoardReadiness: ReadinessSource {
    let board: LoadBoard

    init(board: LoadBoard) { self.board = board }

    var isReady: Bool {
        guard board.load(header: .draining) == 0 else { return false }
        for slot in 0..<board.capacity where board.load(slot, .state) == WorkerState.listening.rawValue { return true }
        return false
    }
}
