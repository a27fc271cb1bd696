// The seed's example (Node's cluster documentation) in Swift:
//
//   if (cluster.isPrimary) { fork a worker per CPU; on 'exit' log it }
//   else { http.createServer((req, res) => res.end('hello world\n')).listen(8000) }
//
// plus a message each way. Run: swift run cluster-hello   (PORT=0 picks a free port)
import Cluster
import Glibc
import HTTP1
import HTTPServer
import URing

struct Hello: HTTPHandler {
    mutating func handle(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome {
        response.respond(.ok, body: "hello world\n")
        return .done
    }
}

let port = UInt16(ProcessInfoLite.environment("PORT") ?? "8000") ?? 8000
let workerCount = Int(ProcessInfoLite.environment("WORKERS") ?? "") ?? Cluster.availableCPUs
let cluster = Cluster()

do {
    if cluster.isPrimary {
        printLine("Primary \(getpid()) is running")
        // Node's common pattern: configure each worker the moment it is forked.
        cluster.onFork { worker in try? worker.send("config for worker \(worker.id)") }
        cluster.onListening { worker, port in printLine("worker \(worker.id) listening on port \(port)") }
        cluster.onMessage { worker, bytes in
            printLine("primary got from worker \(worker.id): \(String(decoding: bytes, as: UTF8.self))")
            try? worker.send("welcome, worker \(worker.id)")
        }
        cluster.onExit { worker, status in printLine("worker \(worker.pid) died (\(status))") }
        for _ in 0..<workerCount { try cluster.fork() }
        try cluster.run()
    } else {
        // In a worker, onMessage receives what the primary sends, with cluster.worker.
        cluster.onMessage { me, bytes in
            printLine("worker \(me.id) got: \(String(decoding: bytes, as: UTF8.self))")
        }
        try cluster.sendToPrimary(Array("hello from worker \(cluster.workerID!)".utf8))
        try cluster.serve(Hello(), port: port)
    }
} catch {
    printError("cluster-hello: \(error)")
    exit(1)
}

/// getenv without Foundation.
enum ProcessInfoLite {
    static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}
