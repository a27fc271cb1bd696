import Cluster
import ServiceLifecycle

/// The primary as a swift-service-lifecycle `Service`: it starts `workers` workers and runs
/// the primary's loop, on a thread of its own, until every worker has exited.
///
/// Graceful shutdown (the group's `gracefulShutdownSignals`, or another service ending)
/// is the primary's SIGTERM: it stops accepting, hands on what it accepted, and drains
/// every worker; `run()` returns once they have exited. Cancellation does the same: a
/// primary never drops a connection it accepted; PrimarySettings' shutdown timeout bounds
/// the stop (workers still draining then are killed).
///
/// The group owns SIGTERM and SIGINT: list them in its `gracefulShutdownSignals` (without
/// them SIGTERM ends the process at once). SIGHUP (rolling restart), SIGTTIN and SIGTTOU
/// (one worker more or less) and SIGCHLD stay the primary's, read on its ring.
///
///     let cluster = Cluster()
///     if cluster.isPrimary {
///         let group = ServiceGroup(services: [PrimaryService(cluster, workers: 4)],
///                                  gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
///         try await group.run()
///     }
///
/// Register the cluster's events (`onExit`, `onRequest`...) before `run()`; they run on
/// the primary's thread. After it, `cluster.stoppedCleanly` tells whether every worker
/// drained in time.
public struct PrimaryService: Service {
    public let cluster: Cluster
    public let workers: Int

    public init(_ cluster: Cluster, workers: Int = Cluster.defaultWorkerCount()) {
        precondition(cluster.isPrimary, "PrimaryService runs in the primary; a worker runs a WorkerService")
        // The group takes the stop signals; the loop would otherwise race it for them.
        cluster.stopSignals = []
        self.cluster = cluster
        self.workers = workers
    }

    public func run() async throws {
        let cluster = cluster, workers = workers
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await LoopThread.run {
                // The primary's ring is made by the first fork, on this thread.
                for _ in 0..<workers where !cluster.isShuttingDown { try cluster.fork() }
                try cluster.run()
            }
        } onCancelOrGracefulShutdown: {
            cluster.shutdown()
        }
    }
}
