// A test fixture (not an example): the primary, its workers, or one server alone, each run
// as a swift-service-lifecycle service in a ServiceGroup that owns SIGTERM and SIGINT, beside
// a stand-in for an application's own resource (a service that closes at graceful shutdown).
// ServerTests.LifecycleServiceTests drives it from outside with real signals.
//
//   PROBE_MODE=cluster (default): PrimaryService with 2 workers, each a WorkerService
//   PROBE_MODE=server:            one ServerService, no primary
//
//   GET /      "hello"
//   GET /slow  "slow done", after 600 ms (or ?ms=N) awaited on the loop
//
// The ready line ("listening on http://127.0.0.1:PORT") goes to standard output; one line
// per event to standard error: "online ID PID", "exit ID", "drain ID", "ID db closed",
// "store closed", "stopped cleanly: BOOL", "server resource closed".
import Cluster
import ClusterLifecycle
import Foundation
import HTTPServer
import Logging
import ServiceLifecycle
import Web

func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
func event(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

/// An application's own resource (a database client, say): open until graceful shutdown,
/// then closed. The group shuts services down in reverse order, so one listed before the
/// server closes after it.
struct Resource: Service {
    let name: String
    func run() async throws {
        try? await gracefulShutdown()
        event("\(name) closed")
    }
}

func routes() -> Router {
    var router = Router()
    router.get("/") { _, response in response.respond(.ok, text: "hello") }
    router.get("/slow") { request async throws -> Response in
        try await Task.sleep(for: .milliseconds(request.query("ms", as: Int.self) ?? 600))
        return .text("slow done")
    }
    return router
}

var logger = Logger(label: "lifecycle-probe")
logger.logLevel = .warning

do {
    if ProcessInfo.processInfo.environment["PROBE_MODE"] == "server" {
        var configuration = ServerConfiguration()
        configuration.port = 0
        let server = ServerService(Application(router: routes()), configuration: configuration) { port in
            say("listening on http://127.0.0.1:\(port)")
        }
        let group = ServiceGroup(services: [Resource(name: "server resource"), server],
                                 gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
        try await group.run()
        exit(0)
    }
    var settings = PrimarySettings()
    settings.restartWorkers = true
    let cluster = Cluster(settings: settings)
    if cluster.isPrimary {
        let workers = 2
        var listening = 0
        cluster.onListening { _, port in
            listening += 1
            if listening == workers { say("listening on http://127.0.0.1:\(port)") }
        }
        cluster.onOnline { worker in event("online \(worker.id) \(worker.pid)") }
        cluster.onExit { worker, _ in event("exit \(worker.id)") }
        let group = ServiceGroup(services: [Resource(name: "store"), PrimaryService(cluster, workers: workers)],
                                 gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
        try await group.run()
        event("stopped cleanly: \(cluster.stoppedCleanly)")
    } else {
        let id = cluster.workerID!
        cluster.onDrain { event("drain \(id)") }
        let server = WorkerService(cluster, Application(router: routes()), port: 0)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: Resource(name: "\(id) db")),
                       .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
        try await group.run()
    }
} catch {
    event("lifecycle-probe: \(error)")
    exit(1)
}
