/// One worker's line in /stats and /metrics.
public struct WorkerStats: Sendable, Equatable {
    public var id: Int
    public var pid: Int32
    public var connections: Int
    public var active: Int
    public var requests: Int
    public var restarts: Int
    public init(id: Int, pid: Int32, connections: Int, active: Int, requests: Int, restarts: Int) {
        self.id = id
        self.pid = pid
        self.connections = connections
        self.active = active
        self.requests = requests
        self.restarts = restarts
    }
}

/// What /stats and /metrics report: every worker, and the distribution in force.
public struct StatsSnapshot: Sendable, Equatable {
    public var mode: String
    public var balance: String
    public var workers: [WorkerStats]
    public init(mode: String, balance: String, workers: [WorkerStats]) {
        self.mode = mode
        self.balance = balance
        self.workers = workers
    }

    /// A single process serving alone.
    public init(single c: ServerCounters) {
        self.init(mode: "single", balance: "none",
                  workers: [WorkerStats(id: c.workerID, pid: c.pid, connections: c.connections, active: c.active,
                                        requests: c.requests, restarts: 0)])
    }
}

/// Where /stats reads from: a cluster's shared board, or nowhere (this process only).
public protocol StatsSource: AnyObject {
    func snapshot(local: ServerCounters) -> StatsSnapshot
}

public enum StatsReport {
    public static func json(_ s: StatsSnapshot) -> String {
        let entries = s.workers.map {
            "{\"id\":\($0.id),\"pid\":\($0.pid),\"connections\":\($0.connections),\"active\":\($0.active),\"requests\":\($0.requests),\"restarts\":\($0.restarts)}"
        }
        return "{\"mode\":\"\(s.mode)\",\"balance\":\"\(s.balance)\",\"workers\":[" + entries.joined(separator: ",") + "]}\n"
    }

    /// The Prometheus text exposition format (version 0.0.4).
    public static func prometheus(_ s: StatsSnapshot) -> String {
        var out = "# HELP uring_cluster_info Distribution mode and balance policy in force.\n"
        out += "# TYPE uring_cluster_info gauge\n"
        out += "uring_cluster_info{mode=\"\(s.mode)\",balance=\"\(s.balance)\"} 1\n"
        out += "# HELP uring_cluster_workers Workers reported.\n# TYPE uring_cluster_workers gauge\n"
        out += "uring_cluster_workers \(s.workers.count)\n"
        let series: [(String, String, String, (WorkerStats) -> Int)] = [
            ("uring_cluster_connections_total", "counter", "Connections accepted by the worker.", { $0.connections }),
            ("uring_cluster_active_connections", "gauge", "Connections open in the worker.", { $0.active }),
            ("uring_cluster_requests_total", "counter", "Requests answered by the worker.", { $0.requests }),
            ("uring_cluster_restarts_total", "counter", "Times the worker's slot was restarted.", { $0.restarts }),
        ]
        for (name, type, help, value) in series {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for w in s.workers { out += "\(name){worker=\"\(w.id)\",pid=\"\(w.pid)\"} \(value(w))\n" }
        }
        return out
    }
}
