import Glibc

/// The environment variables that make a process a worker.
public enum WorkerEnvironment {
    public static let slot = "URING_CLUSTER_WORKER"
    public static let channel = "URING_CLUSTER_CHANNEL_FD"
    public static let board = "URING_CLUSTER_BOARD_FD"
    public static let primaryPID = "URING_CLUSTER_PRIMARY_PID"
}

enum ProcessEnvironment {
    static func current() -> [String: String] {
        var result: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                result[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return result
    }

    static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
