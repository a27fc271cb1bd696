/// How the workers share the port (Node's cluster.schedulingPolicy, plus reuseport).
public enum DistributionMode: String, CaseIterable, Sendable {
    /// The primary accepts (io_uring multishot accept) and hands each connection to a worker
    /// chosen by the balance policy, through the ring or by SCM_RIGHTS (HandoffPath).
    /// Node's SCHED_RR, the default.
    case roundRobin = "round-robin"
    /// The primary creates one listener and gives it to every worker; each accepts on it.
    /// Node's SCHED_NONE.
    case shared
    /// One SO_REUSEPORT listener per worker, created and kept open by the primary; the
    /// kernel spreads connections by a hash of the 4-tuple.
    case reuseport
}
