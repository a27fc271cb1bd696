import Cluster
import HTTPServer
import ServiceLifecycle

/// A worker's server as a swift-service-lifecycle `Service`: `Cluster.serve` on a thread of
/// its own, until the worker is drained.
///
/// Graceful shutdown (the worker's own SIGTERM through its group, or another service
/// ending) is the worker's SIGTERM: the primary replaces it and drains it, or, when the
/// whole cluster is stopping, drains it with the rest. A drain the primary starts (a stop,
/// a rolling restart) ends `run()` too: give this service
/// `successTerminationBehavior: .gracefullyShutdownGroup`, so that the group then closes
/// the application's other services (a database client...) gracefully, in reverse order.
///
///     let service = WorkerService(cluster, app, port: 8080)
///     let group = ServiceGroup(configuration: .init(
///         services: [.init(service: database),
///                    .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
///         gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
///     try await group.run()
///
/// `cluster.onDrain` tells the application, on the worker's loop, that its drain began.
/// The handler moves to the loop's thread: the caller does not use it after.
public final class WorkerService<Handler: HTTPHandler>: Service, @unchecked Sendable {
    public let cluster: Cluster
    let host: String
    let port: UInt16
    let configuration: ServerConfiguration
    /// Taken by `run()`, on the loop's thread from then on.
    var handler: Handler?

    public init(_ cluster: Cluster, _ handler: Handler, host: String = "127.0.0.1", port: UInt16,
                configuration: ServerConfiguration = ServerConfiguration()) {
        precondition(cluster.isWorker, "WorkerService runs in a worker; the primary runs a PrimaryService")
        cluster.stopSignals = []
        self.cluster = cluster
        self.handler = handler
        self.host = host
        self.port = port
        self.configuration = configuration
    }

    public func run() async throws {
        guard let handler else { preconditionFailure("a WorkerService runs once") }
        self.handler = nil
        let cluster = cluster, host = host, port = port, configuration = configuration
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await LoopThread.run {
                try cluster.serve(handler, host: host, port: port, configuration: configuration)
            }
        } onCancelOrGracefulShutdown: {
            cluster.shutdown()
        }
    }
}
