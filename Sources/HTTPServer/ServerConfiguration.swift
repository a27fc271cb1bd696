import HTTP1

/// How one server process listens and what it tolerates. A `Sendable` value of settings,
/// each default documented beside it and each exposed as a `serve` flag.
public struct ServerConfiguration: Sendable {
    /// Address to listen on (an IPv4 or IPv6 literal). Default 127.0.0.1.
    public var host: String = "127.0.0.1"
    /// Port; 0 picks a free one. Default 8000.
    public var port: UInt16 = 8000
    /// listen(2) backlog. Default 4096 (the kernel caps it at net.core.somaxconn).
    public var backlog: Int32 = 4096
    public var limits = HTTPLimits()
    public var timeouts = HTTPTimeouts()
    /// Open connections this process serves at once; beyond it new ones get 503 and are closed.
    public var maxConnections: Int = 10_000
    /// Provided receive buffers (a power of two) and their size. Each buffer goes back to
    /// the kernel as soon as its bytes are copied into the connection's own buffer, so they
    /// need to cover one loop turn's reads, not every connection; when they run out, a
    /// receive ends with ENOBUFS and is armed again. The kernel uses them in ring order, so
    /// every one of them ends up resident: 128 × 8 KiB is 1 MiB per process (BENCHMARKS.md
    /// §7 measured the old 1024 × 16 KiB at +16.5 MB of RSS after load, and no CPU difference).
    public var receiveBufferCount: UInt32 = 128
    public var receiveBufferSize: Int = 8 * 1024
    /// Submission-queue entries of the ring.
    public var ringEntries: UInt32 = 2048
    /// How long a closing connection may linger to read what the client still sends, so that
    /// our last response is not destroyed by a reset (nginx's lingering_close).
    public var lingerNanoseconds: UInt64 = 2_000_000_000
    /// Unsent response bytes above which a connection answers no further pipelined request
    /// (and, holding `readAheadBytes` of unanswered input, stops reading). Default 256 KiB.
    public var maxUnsentOutput: Int = 256 * 1024
    /// Unanswered input a connection that cannot answer now may hold before reading pauses. Default 64 KiB.
    public var readAheadBytes: Int = 64 * 1024
    /// How long a keep-alive connection idle between requests keeps its buffers before it
    /// gives them back (the next request allocates them again). 0 keeps them. Default 1 s.
    public var idleReleaseNanoseconds: UInt64 = 1_000_000_000
    /// Connections as direct descriptors (slots of the ring's registered file table):
    /// accepted straight into it, read, written and closed without the process's descriptor
    /// table, and the only kind a primary can hand over through the ring. Where the kernel
    /// refuses a file table, process descriptors are used. Default on.
    public var directDescriptors = true
    /// How long a handler that answers later (`HandlerOutcome.pending`) may take before the
    /// client gets 504 and the handler's task is cancelled. Default 60 s (nginx's
    /// proxy_read_timeout).
    public var handlerTimeoutNanoseconds: UInt64 = 60_000_000_000
    /// Each connection asks the kernel for its client's address as it starts (one more
    /// operation on the ring, in the same submission as its first read; no system call),
    /// for `Request.clientAddress`. Off: the address is nil. Default on.
    public var knowsClients = true
    /// The id reported in /stats (a worker's index in a cluster).
    public var workerID: Int = 0
    /// Connections begin with a PROXY protocol header (v1 or v2) from a load balancer,
    /// which then names the client; nil (the default): they do not.
    public var proxyProtocol: ProxyProtocol? = nil

    /// `--access-log`: a line per answered request; nil (the default): none, at no cost.
    public var accessLog: AccessLog? = nil

    public struct AccessLog: Sendable, Equatable {
        /// A file, opened O_APPEND and created 0644 when missing, or `-`: standard output.
        public var path: String
        public var format: AccessLogLine.Format
        /// SIGUSR1 reopens the file (for logrotate). Default on; off for a program that
        /// uses SIGUSR1 itself.
        public var reopenOnSIGUSR1: Bool

        public init(path: String, format: AccessLogLine.Format = .common, reopenOnSIGUSR1: Bool = true) {
            self.path = path
            self.format = format
            self.reopenOnSIGUSR1 = reopenOnSIGUSR1
        }
    }

    /// `GET` paths answered by the loop itself, before any handler: liveness (200 while the
    /// process serves) and readiness (200 while `readiness` says so, else 503). nil turns
    /// one off. Defaults `/healthz` and `/readyz`, as Kubernetes' own components name them.
    public var healthPath: String? = "/healthz"
    public var readyPath: String? = "/readyz"

    /// `--proxy-protocol`, `--proxy-from`: who may send a PROXY header, and how long it may be.
    public struct ProxyProtocol: Sendable, Equatable {
        /// The peers allowed to send one; a connection from any other is closed. Empty:
        /// any peer (as nginx's `listen ... proxy_protocol`: use it only where nothing but
        /// the balancer can reach the port).
        public var trusted: [AddressRange]
        /// The longest header taken, TLVs included (beyond: closed). Default 4 KiB.
        public var maxHeaderBytes: Int

        public init(trusted: [AddressRange] = [], maxHeaderBytes: Int = ProxyHeader.defaultMaxLength) {
            self.trusted = trusted
            self.maxHeaderBytes = maxHeaderBytes
        }

        /// Whether `peer` may send a header (nil, an unknown peer: only when any may).
        public func trusts(_ peer: ClientAddress?) -> Bool {
            if trusted.isEmpty { return true }
            guard let peer else { return false }
            return trusted.contains { $0.contains(peer) }
        }
    }

    public init() {}

    var lifecycleSettings: ConnectionLifecycle.Settings {
        var settings = ConnectionLifecycle.Settings(maxUnsentOutput: maxUnsentOutput, readAheadBytes: readAheadBytes,
                                     lingerNanoseconds: lingerNanoseconds, sendStallNanoseconds: timeouts.headerNanoseconds,
                                     idleReleaseNanoseconds: idleReleaseNanoseconds, asksPeerName: asksPeerName)
        settings.expectsProxyHeader = proxyProtocol != nil
        settings.maxProxyHeaderBytes = proxyProtocol?.maxHeaderBytes ?? ProxyHeader.defaultMaxLength
        return settings
    }

    /// The peer's address is needed for the handler, or to check a balancer against `--proxy-from`.
    var asksPeerName: Bool { knowsClients || !(proxyProtocol?.trusted.isEmpty ?? true) }

    /// Timer resolution: fine enough for the shortest configured timeout, and at most 250 ms
    /// so that the cached Date header is never more than a quarter second late.
    var tickNanoseconds: UInt64 {
        let shortest = min(timeouts.headerNanoseconds, timeouts.keepAliveNanoseconds, timeouts.bodyIdleNanoseconds)
        return max(5_000_000, min(250_000_000, shortest / 8))
    }
}
