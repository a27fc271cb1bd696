import HTTPServer

/// The settings a primary runs with.
public struct PrimarySettings: Sendable {
    /// The program workers run (Node's `exec`); nil: this program again (/proc/self/exe).
    /// Another program must be one that serves as a cluster worker (calls `Cluster.serve`).
    public var executable: String? = nil
    /// The workers' arguments, the program's name first (Node's `args`, with argv[0]);
    /// nil: this process's own.
    public var arguments: [String]? = nil
    /// Variables added to every worker's environment (each `fork(environment:)` adds its own).
    public var environment: [String: String] = [:]
    /// The workers' working directory (Node's `cwd`); nil: the primary's.
    public var workingDirectory: String? = nil
    public var mode: DistributionMode = .roundRobin
    public var balance: BalancePolicy = .loadAware
    /// Round-robin mode's hand-off: through the ring where possible (`auto`), or forced.
    public var handoff: HandoffPath = .auto
    /// Worker slots on the shared board (the most workers at once).
    public var maxWorkers: Int = 256
    /// A listening socket to serve instead of creating one (`--listen-fd`, systemd).
    public var listenFD: Int32? = nil
    /// At shutdown, SIGKILL what is still running this long after workers were asked to drain.
    public var shutdownTimeoutNanoseconds: UInt64 = 10_000_000_000
    /// Replace workers that exit without being asked to (Node's cluster does not; `serve` does).
    public var restartWorkers = false
    public var backoff = RestartBackoff()
    /// A worker must be listening this long after it was started, or it is killed. Default 10 s.
    public var readyTimeoutNanoseconds: UInt64 = 10_000_000_000
    /// A worker whose heartbeat is older than this is stuck: killed and replaced. 0 = off. Default 30 s.
    public var workerTimeoutNanoseconds: UInt64 = 30_000_000_000
    /// A worker with a hand-off unacknowledged for this long gets no new connections until it
    /// catches up (a stopped or stalled loop). Default 200 ms.
    public var stallNanoseconds: UInt64 = 200_000_000
    /// Connections accepted while no worker can take them wait here, up to this many. Default 1024.
    public var queueLimit: Int = 1024
    /// ... and this long; beyond either they are answered 503. Default 10 s.
    public var queueTimeoutNanoseconds: UInt64 = 10_000_000_000
    /// At a stop signal, readiness (`/readyz`) turns 503 at once, and serving goes on as
    /// before for this long, so that a load balancer's health check takes the host out of
    /// rotation before anything closes; then the graceful shutdown. A second stop signal
    /// cuts it short. Default 0.
    public var drainDelayNanoseconds: UInt64 = 0
    /// SIGUSR1 is sent on to every worker (`--access-log`'s reopen); otherwise the primary
    /// ignores it. Default off.
    public var forwardsSIGUSR1 = false
    /// Connections begin with a PROXY protocol header (the workers' setting, which the
    /// primary needs for `ip-hash`: it peeks at the header to choose the worker).
    public var proxyProtocol: ServerConfiguration.ProxyProtocol? = nil
    /// How long the primary waits for a PROXY header it peeks at (the workers' header timeout).
    public var proxyHeaderTimeoutNanoseconds: UInt64 = 10_000_000_000
    public init() {}
}
