import Foundation

/// /stats as the tests read it.
struct ClusterStats {
    struct Worker {
        let id: Int
        let pid: Int
        let connections: Int
        let active: Int
        let requests: Int
        let restarts: Int
    }
    let mode: String
    let balance: String
    let workers: [Worker]
}

func clusterStats(_ port: Int) throws -> ClusterStats {
    let r = try fetch(port, "GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    guard r.status == 200,
          let json = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any],
          let workers = json["workers"] as? [[String: Any]] else {
        throw TestFailure("bad /stats: \(r.text)")
    }
    return ClusterStats(
        mode: json["mode"] as? String ?? "",
        balance: json["balance"] as? String ?? "",
        workers: workers.map {
            ClusterStats.Worker(id: $0["id"] as? Int ?? -1, pid: $0["pid"] as? Int ?? -1,
                                connections: $0["connections"] as? Int ?? -1, active: $0["active"] as? Int ?? -1,
                                requests: $0["requests"] as? Int ?? -1, restarts: $0["restarts"] as? Int ?? -1)
        })
}

/// Server arguments for a mode under test. "round-robin+message" is round-robin with its
/// hand-offs forced onto SCM_RIGHTS messages; plain "round-robin" takes the ring where the
/// kernel allows (it does here: DescriptorPassingTests), so both paths run.
func modeArguments(_ mode: String) -> [String] {
    mode == "round-robin+message" ? ["--mode", "round-robin", "--handoff", "message"] : ["--mode", mode]
}

/// The mode /stats reports for a mode under test.
func reportedMode(_ mode: String) -> String { mode == "round-robin+message" ? "round-robin" : mode }
