import Glibc
import Logging
import URing

/// The cluster's log lines, through swift-log. Each line is written with one write(2) to
/// standard error as `PID,Role message`, the shape of Node's NODE_DEBUG=cluster output
/// (`23521,Primary Worker 23524 online`). `CLUSTER_DEBUG=1` turns on the debug level, which
/// carries the lifecycle lines; worker exits and errors are logged at any level.
public struct ClusterLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let role: String

    public init(role: String, level: Logger.Level) {
        self.role = role
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        printError("\(getpid()),\(role) \(event.message)")
    }

    /// Whether CLUSTER_DEBUG asks for lifecycle lines.
    public static var debugEnabled: Bool {
        guard let v = ProcessEnvironment.value("CLUSTER_DEBUG") else { return false }
        return !v.isEmpty && v != "0"
    }

    public static func makeLogger(role: String) -> Logger {
        Logger(label: "uring-cluster") { _ in
            ClusterLogHandler(role: role, level: debugEnabled ? .debug : .notice)
        }
    }
}
