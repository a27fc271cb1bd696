import HTTPServer

/// /stats and /metrics of a cluster: every worker's line of the shared board.
final class BoardStats: StatsSource {
    let board: LoadBoard
    /// The asking worker's slot: its own line comes from its live counters, not the board
    /// (which it publishes at the end of each turn).
    let slot: Int

    init(board: LoadBoard, slot: Int) {
        self.board = board
        self.slot = slot
    }

    func snapshot(local: ServerCounters) -> StatsSnapshot {
        var workers: [WorkerStats] = []
        for slot in 0..<board.capacity {
            let state = board.load(slot, .state)
            guard state == WorkerState.listening.rawValue || state == WorkerState.starting.rawValue else { continue }
            if slot == self.slot {
                workers.append(WorkerStats(id: slot + 1, pid: local.pid, connections: local.connections, active: local.active,
                                           requests: local.requests, restarts: board.load(slot, .restarts),
                                           proxyRejects: local.proxyRejects, handoffs: board.load(slot, .handoffs),
                                           refusals: board.load(slot, .refusals)))
                continue
            }
            workers.append(WorkerStats(id: slot + 1, pid: Int32(board.load(slot, .pid)),
                                       connections: board.load(slot, .connections), active: board.load(slot, .active),
                                       requests: board.load(slot, .requests), restarts: board.load(slot, .restarts),
                                       proxyRejects: board.load(slot, .proxyRejects), handoffs: board.load(slot, .handoffs),
                                       refusals: board.load(slot, .refusals)))
        }
        let primary = PrimaryStats(queueDepth: board.load(header: .queueDepth), unavailable: board.load(header: .unavailable),
                                   proxyRejects: board.load(header: .proxyRejects), ready: BoardReadiness(board: board).isReady)
        return StatsSnapshot(mode: board.mode.rawValue, balance: board.balance.rawValue, workers: workers, primary: primary)
    }
}
