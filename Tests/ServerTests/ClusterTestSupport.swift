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
