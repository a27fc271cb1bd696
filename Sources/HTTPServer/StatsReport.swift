import Glibc

/// One worker's line in /stats and /metrics.
public struct WorkerStats: Sendable, Equatable {
    public var id: Int
    public var pid: Int32
    public var connections: Int
    public var active: Int
    public var requests: Int
    public var restarts: Int
    /// Connections closed for want of a valid PROXY header (or from an untrusted peer).
    public var proxyRejects: Int
    /// Connections the primary handed to this worker's slot, and those its workers refused.
    public var handoffs: Int
    public var refusals: Int
    public init(id: Int, pid: Int32, connections: Int, active: Int, requests: Int, restarts: Int,
                proxyRejects: Int = 0, handoffs: Int = 0, refusals: Int = 0) {
        self.id = id
        self.pid = pid
        self.connections = connections
        self.active = active
        self.requests = requests
        self.restarts = restarts
        self.proxyRejects = proxyRejects
        self.handoffs = handoffs
        self.refusals = refusals
    }
}

/// The primary's own numbers (zero for a process serving alone, which has none).
public struct PrimaryStats: Sendable, Equatable {
    /// Connections waiting for a worker now (round-robin mode).
    public var queueDepth = 0
    /// 503s the primary answered (its queue full or timed out, a stop).
    public var unavailable = 0
    /// Connections the primary closed for a bad PROXY header (ip-hash reads it first).
    public var proxyRejects = 0
    /// Whether the readiness path answers 200.
    public var ready = true
    public init(queueDepth: Int = 0, unavailable: Int = 0, proxyRejects: Int = 0, ready: Bool = true) {
        self.queueDepth = queueDepth
        self.unavailable = unavailable
        self.proxyRejects = proxyRejects
        self.ready = ready
    }
}

/// What /stats and /metrics report: every worker, and the distribution in force.
public struct StatsSnapshot: Sendable, Equatable {
    public var mode: String
    public var balance: String
    public var workers: [WorkerStats]
    public var primary: PrimaryStats
    public init(mode: String, balance: String, workers: [WorkerStats], primary: PrimaryStats = PrimaryStats()) {
        self.mode = mode
        self.balance = balance
        self.workers = workers
        self.primary = primary
    }

    /// A single process serving alone.
    public init(single c: ServerCounters, ready: Bool = true) {
        self.init(mode: "single", balance: "none",
                  workers: [WorkerStats(id: c.workerID, pid: c.pid, connections: c.connections, active: c.active,
                                        requests: c.requests, restarts: 0, proxyRejects: c.proxyRejects)],
                  primary: PrimaryStats(ready: ready))
    }
}

/// What was built and where it runs, for `uring_cluster_build_info`.
public enum BuildInfo {
    public static let version = "0.12.0"

    /// The compiler that built this program (major.minor).
    public static var swiftVersion: String {
        #if compiler(>=6.4)
        return "6.4+"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #else
        return "6.1"
        #endif
    }

    /// The running kernel's release (uname -r), read once.
    public static let kernelRelease: String = {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown" }
        return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }()
}

/// Where /stats reads from: a cluster's shared board, or nowhere (this process only).
public protocol StatsSource: AnyObject {
    func snapshot(local: ServerCounters) -> StatsSnapshot
}

public enum StatsReport {
    public static func json(_ s: StatsSnapshot) -> String {
        let entries = s.workers.map {
            "{\"id\":\($0.id),\"pid\":\($0.pid),\"connections\":\($0.connections),\"active\":\($0.active),\"requests\":\($0.requests),\"restarts\":\($0.restarts),\"proxy_rejects\":\($0.proxyRejects),\"handoffs\":\($0.handoffs),\"refusals\":\($0.refusals)}"
        }
        let p = s.primary
        return "{\"mode\":\"\(s.mode)\",\"balance\":\"\(s.balance)\",\"ready\":\(p.ready),\"queue_depth\":\(p.queueDepth),\"unavailable\":\(p.unavailable),\"primary_proxy_rejects\":\(p.proxyRejects),\"workers\":["
            + entries.joined(separator: ",") + "]}\n"
    }

    /// The Prometheus text exposition format (version 0.0.4): every family with its HELP
    /// and TYPE first, counters named `_total`, label values quoted and escaped.
    public static func prometheus(_ s: StatsSnapshot) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("uring_cluster_info", "gauge", "Distribution mode and balance policy in force.")
        out += "uring_cluster_info{mode=\"\(label(s.mode))\",balance=\"\(label(s.balance))\"} 1\n"
        family("uring_cluster_build_info", "gauge", "The program's version, the compiler that built it, and the kernel it runs on.")
        out += "uring_cluster_build_info{version=\"\(label(BuildInfo.version))\",swift=\"\(label(BuildInfo.swiftVersion))\",kernel=\"\(label(BuildInfo.kernelRelease))\"} 1\n"
        family("uring_cluster_workers", "gauge", "Workers reported.")
        out += "uring_cluster_workers \(s.workers.count)\n"
        family("uring_cluster_ready", "gauge", "1 while the readiness path answers 200 (not draining, a worker listening).")
        out += "uring_cluster_ready \(s.primary.ready ? 1 : 0)\n"
        family("uring_cluster_queue_depth", "gauge", "Accepted connections waiting in the primary for a worker.")
        out += "uring_cluster_queue_depth \(s.primary.queueDepth)\n"
        family("uring_cluster_unavailable_total", "counter", "Connections the primary answered 503 (queue full or timed out, a stop).")
        out += "uring_cluster_unavailable_total \(s.primary.unavailable)\n"
        family("uring_cluster_primary_proxy_rejects_total", "counter", "Connections the primary closed for a missing or malformed PROXY header.")
        out += "uring_cluster_primary_proxy_rejects_total \(s.primary.proxyRejects)\n"
        let series: [(String, String, String, (WorkerStats) -> Int)] = [
            ("uring_cluster_connections_total", "counter", "Connections accepted by the worker.", { $0.connections }),
            ("uring_cluster_active_connections", "gauge", "Connections open in the worker.", { $0.active }),
            ("uring_cluster_requests_total", "counter", "Requests answered by the worker.", { $0.requests }),
            ("uring_cluster_restarts_total", "counter", "Times the worker's slot was restarted.", { $0.restarts }),
            ("uring_cluster_handoffs_total", "counter", "Connections the primary handed to the worker's slot.", { $0.handoffs }),
            ("uring_cluster_refusals_total", "counter", "Hand-offs the worker's slot refused (its descriptors full).", { $0.refusals }),
            ("uring_cluster_proxy_rejects_total", "counter", "Connections the worker closed for a missing or malformed PROXY header, or from a peer not allowed to send one.", { $0.proxyRejects }),
        ]
        for (name, type, help, value) in series {
            family(name, type, help)
            for w in s.workers { out += "\(name){worker=\"\(w.id)\",pid=\"\(w.pid)\"} \(value(w))\n" }
        }
        return out
    }

    /// A label value in the exposition format: backslash, quote and newline escaped.
    static func label(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
