import ArgumentParser
import Cluster
import Glibc
import HTTP1
import HTTPServer
import StaticFiles
import URing

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve HTTP/1.1 on one port from a primary and N worker processes.",
        discussion: """
        Routes: GET / (hello world), POST /echo, GET /delay?ms=N, GET /burn?us=N, GET /stats, GET /metrics.
        The primary owns the listening sockets; workers are this program executed again.
        Set CLUSTER_DEBUG=1 for lifecycle lines on standard error.
        """
    )

    // `.unconditional`: `--workers -1` is a (negative) value, not an unknown option.
    @Option(parsing: .unconditional, help: "Worker processes (default: the number of CPUs, at most 256); 0 serves in this one process, without a primary.")
    var workers: Int = Cluster.defaultWorkerCount()

    @Option(help: "How workers share the port: round-robin (the primary accepts and hands over), shared, reuseport.")
    var mode: DistributionMode = .roundRobin

    @Option(help: "Round-robin mode's choice of worker: load-aware, round-robin, least-connections, p2c, ip-hash.")
    var balance: BalancePolicy = .loadAware

    @Option(help: "Round-robin mode's hand-off: auto (through the ring, MSG_RING, where the kernel and privileges allow; else messages), ring (or fail at start), message (SCM_RIGHTS).")
    var handoff: HandoffPath = .auto

    @Flag(inversion: .prefixedNo, help: "Connections as direct descriptors (slots of each ring's file table) where the kernel allows.")
    var directDescriptors = true

    @Flag(inversion: .prefixedNo, help: "Ask the kernel for each connection's client address (one ring operation per connection, for handlers and logs).")
    var clientAddresses = true

    @Option(help: "How long a draining worker (SIGTERM/SIGINT, SIGHUP, SIGTTOU) may take to finish in-flight requests before it is killed.")
    var shutdownTimeout = TimeSpan(seconds: 10)

    @Option(help: "How long a new worker may take to be listening before it is killed (and counts as a failed start).")
    var readyTimeout = TimeSpan(seconds: 10)

    @Option(help: "A worker whose event loop shows no heartbeat for this long is killed and replaced.")
    var workerTimeout = TimeSpan(seconds: 30)

    @Option(help: "Accepted connections that may wait while no worker can take them (beyond: 503).")
    var queueLimit = 1024

    @Option(help: "How long an accepted connection may wait for a worker before it is answered 503.")
    var queueTimeout = TimeSpan(seconds: 10)

    @Option(help: "Serve this already-open listening descriptor instead of opening --host/--port (systemd's LISTEN_FDS is used the same way).")
    var listenFd: Int32?

    @Option(help: "Serve the files under this directory (GET and HEAD, with ranges and validators) instead of the built-in routes.")
    var root: String?

    @Option(help: "With --root: bytes of small files (64 KiB at most each) each process keeps in memory, revalidated after 1 s; 0 turns the cache off.")
    var fileCacheBytes = 8 << 20

    @Option(help: "With --root: the size asked for each pipe a larger file is spliced through (F_SETPIPE_SZ; 4096...1048576 without privileges).")
    var filePipeBytes = 1 << 20

    @Option(help: "When started as root: the user to run as. The primary keeps CAP_NET_ADMIN (its graceful stop's SYN filter) and, for a port below net.ipv4.ip_unprivileged_port_start, CAP_NET_BIND_SERVICE; workers keep nothing.")
    var user: String?

    @Option(help: "With --user: the group to run as (default: the user's own).")
    var group: String?

    @Flag(help: "Every connection begins with a PROXY protocol header (v1 or v2, HAProxy's), which names the client for handlers, the access log and ip-hash; a connection without a valid one is closed.")
    var proxyProtocol = false

    @Option(help: "With --proxy-protocol: the balancers allowed to send it, as CIDR blocks (10.0.0.0/8,::1); a connection from anywhere else is closed. Default: any peer.")
    var proxyFrom: String?

    @Option(help: "Write a line per answered request to this file (appended; SIGUSR1 reopens it), or - for standard output.")
    var accessLog: String?

    @Option(help: "The access log's format: common (NCSA, with the duration in µs and the worker id added) or json (one object per line).")
    var accessLogFormat: AccessLogLine.Format = .common

    @Option(help: "The liveness path, answered 200 before any handler; off turns it off.")
    var healthPath = "/healthz"

    @Option(help: "The readiness path: 200 while a worker listens and the server is not draining, else 503; off turns it off.")
    var readyPath = "/readyz"

    @Option(help: "On SIGTERM or SIGINT, answer 503 on the readiness path at once and go on serving for this long (for a load balancer's health check to notice), then stop gracefully. A second signal stops at once.")
    var drainDelay = TimeSpan(seconds: 0)

    @Option(help: "Address to listen on (IPv4 or IPv6 literal).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free port.")
    var port: Int = 8000

    @Option(help: "Largest header section in bytes (431 beyond).")
    var maxHeaderBytes = 16 * 1024

    @Option(help: "Longest request-target in bytes (414 beyond).")
    var maxTargetBytes = 8 * 1024

    @Option(help: "Most header fields in one request (431 beyond).")
    var maxHeaders = 100

    @Option(help: "Largest request body in bytes (413 beyond).")
    var maxBodyBytes = 1024 * 1024

    @Option(help: "Time to receive a complete header section (408 and close), e.g. 10s or 500ms; also how long a response send may make no progress.")
    var headerTimeout = TimeSpan(seconds: 10)

    @Option(help: "How long an idle keep-alive connection stays open.")
    var keepaliveTimeout = TimeSpan(seconds: 5)

    @Option(help: "How long a request body may go without a byte arriving (408 and close).")
    var bodyTimeout = TimeSpan(seconds: 10)

    @Option(help: "Open connections served at once; beyond it new connections get 503.")
    var maxConnections = 10_000

    @Option(help: "Provided receive buffers per process (a power of two, at most 32768). Each is given back as soon as its bytes are copied out, so these cover one loop turn's reads; too few only costs a re-armed receive.")
    var receiveBuffers = Int(ServerConfiguration().receiveBufferCount)

    @Option(help: "Size of each receive buffer in bytes (512...1048576; all of them together at most 64 MiB).")
    var receiveBufferSize = ServerConfiguration().receiveBufferSize

    func validate() throws {
        guard queueLimit >= 0 else { throw ValidationError("--queue-limit must be >= 0, got \(queueLimit)") }
        guard workers >= 0 else {
            throw ValidationError("--workers cannot be negative, got \(workers); 0 serves in one process, without a primary")
        }
        guard workers <= Cluster.maxWorkers else {
            throw ValidationError("--workers must be at most \(Cluster.maxWorkers), got \(workers)")
        }
        guard Socket.isAddressLiteral(host) else {
            throw ValidationError("--host must be an IPv4 or IPv6 address such as 127.0.0.1, 0.0.0.0 or ::, got '\(host)'")
        }
        // A worker runs with the primary's arguments, but its descriptor 3 is its channel:
        // --listen-fd is the primary's to check and use.
        let isWorker = getenv(WorkerEnvironment.slot) != nil
        if let fd = listenFd, !isWorker {
            guard Socket.isListening(fd) else { throw ValidationError("--listen-fd \(fd) is not a listening socket") }
            if mode == .reuseport { throw ValidationError("--listen-fd works with --mode round-robin or shared; reuseport opens its own sockets") }
        }
        if handoff == .ring && !directDescriptors {
            throw ValidationError("--handoff ring needs direct descriptors; drop --no-direct-descriptors")
        }
        if handoff == .ring && mode != .roundRobin {
            throw ValidationError("--handoff ring is round-robin mode's; --mode \(mode.rawValue) hands nothing over")
        }
        guard (4096...(1 << 30)).contains(filePipeBytes) else {
            throw ValidationError("--file-pipe-bytes must be 4096...1073741824, got \(filePipeBytes)")
        }
        if group != nil && user == nil { throw ValidationError("--group needs --user: name the user to run as too") }
        if let user {
            switch Account.lookUp(user: user, group: group) {
            case .failure(let e):
                throw ValidationError(e.description)
            case .success(let account):
                if account.uid == 0 {
                    throw ValidationError("--user \(user) is root: name an unprivileged user (workers started as root would regain every capability)")
                }
                if !Privileges.isRoot && !Privileges.runsAs(account) {
                    throw ValidationError("--user \(user) needs the server to start as root (it starts as uid \(geteuid())); drop --user, or start it as root")
                }
            }
        }
        if proxyFrom != nil && !proxyProtocol {
            throw ValidationError("--proxy-from needs --proxy-protocol: it names who may send the header")
        }
        if let proxyFrom, AddressRange.list(proxyFrom) == nil {
            throw ValidationError("--proxy-from must be CIDR blocks separated by commas (10.0.0.0/8,::1/128), got '\(proxyFrom)'")
        }
        if proxyProtocol && proxyFrom != nil && !clientAddresses {
            throw ValidationError("--proxy-from checks each connection's peer: drop --no-client-addresses")
        }
        for (name, path) in [("--health-path", healthPath), ("--ready-path", readyPath)] where path != "off" {
            guard path.hasPrefix("/"), !path.contains("?"), path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw ValidationError("\(name) must be a path such as /healthz (or off), got '\(path)'")
            }
        }
        if healthPath != "off" && healthPath == readyPath {
            throw ValidationError("--health-path and --ready-path must differ, both are '\(healthPath)'")
        }
        if let accessLog, accessLog.isEmpty { throw ValidationError("--access-log needs a file, or - for standard output") }
        guard fileCacheBytes >= 0 else { throw ValidationError("--file-cache-bytes cannot be negative, got \(fileCacheBytes)") }
        if let root {
            do throws(FileRootError) { _ = try FileRoot(root) } catch { throw ValidationError(error.description) }
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535, got \(port)") }
        for (name, value, low) in [("--max-header-bytes", maxHeaderBytes, 256), ("--max-target-bytes", maxTargetBytes, 16),
                                   ("--max-headers", maxHeaders, 1), ("--max-body-bytes", maxBodyBytes, 0),
                                   ("--max-connections", maxConnections, 1)] {
            guard value >= low, value <= 1 << 30 else { throw ValidationError("\(name) must be \(low)...\(1 << 30), got \(value)") }
        }
        guard receiveBuffers > 0, receiveBuffers <= 32768, receiveBuffers & (receiveBuffers - 1) == 0 else {
            throw ValidationError("--receive-buffers must be a power of two, 1...32768, got \(receiveBuffers)")
        }
        guard (512...(1 << 20)).contains(receiveBufferSize) else {
            throw ValidationError("--receive-buffer-size must be 512...1048576, got \(receiveBufferSize)")
        }
        // Every buffer ends up resident (the kernel takes them in ring order), in every worker.
        guard receiveBuffers * receiveBufferSize <= 64 << 20 else {
            throw ValidationError("--receive-buffers × --receive-buffer-size must be at most 64 MiB per process, got \(receiveBuffers * receiveBufferSize) bytes")
        }
    }

    var serverConfiguration: ServerConfiguration {
        var c = ServerConfiguration()
        c.host = host
        c.port = UInt16(port)
        c.limits = HTTPLimits(maxHeaderBytes: maxHeaderBytes, maxTargetBytes: maxTargetBytes,
                              maxHeaderCount: maxHeaders, maxBodyBytes: maxBodyBytes)
        c.timeouts = HTTPTimeouts(headerNanoseconds: headerTimeout.nanoseconds,
                                  keepAliveNanoseconds: keepaliveTimeout.nanoseconds,
                                  bodyIdleNanoseconds: bodyTimeout.nanoseconds)
        c.maxConnections = maxConnections
        c.receiveBufferCount = UInt32(receiveBuffers)
        c.receiveBufferSize = receiveBufferSize
        c.directDescriptors = directDescriptors
        c.knowsClients = clientAddresses
        if proxyProtocol {
            c.proxyProtocol = ServerConfiguration.ProxyProtocol(trusted: proxyFrom.flatMap(AddressRange.list) ?? [])
        }
        c.accessLog = accessLog.map { ServerConfiguration.AccessLog(path: $0, format: accessLogFormat) }
        c.healthPath = healthPath == "off" ? nil : healthPath
        c.readyPath = readyPath == "off" ? nil : readyPath
        return c
    }

    /// A descriptor from systemd socket activation (LISTEN_PID is this process, fd 3).
    var activatedFD: Int32? {
        guard let pid = getenv("LISTEN_PID").map({ String(cString: $0) }), Int32(pid) == getpid(),
              let count = getenv("LISTEN_FDS").flatMap({ Int(String(cString: $0)) }), count >= 1,
              Socket.isListening(3) else { return nil }
        return 3
    }

    func run() throws {
        let clean: Bool
        do throws(StartError) {
            clean = try start()
        } catch {
            printError("Error: \(error)")
            throw ExitCode.failure
        }
        // The primary logged which worker was killed or failed at the stop.
        if !clean { throw ExitCode.failure }
    }

    /// Serves until stopped; false when the cluster did not stop cleanly.
    func start() throws(StartError) -> Bool {
        let config = serverConfiguration
        let shownHost = Socket.shown(host: config.host)
        let cluster = Cluster(settings: primarySettings)
        // Checked once here, before any worker exists: a failure now is one line, not one
        // per worker and respawn.
        if !cluster.isWorker { try StartFailure.preflight() }
        // A primary gives up root before anything else (its workers then start as the user);
        // a lone server after it has bound its port (below); a worker never needs it.
        if cluster.isWorker {
            try dropPrivileges(keeping: [])
        } else if workers > 0 {
            try dropPrivileges(keeping: needsBindService ? [.bindService, .networkAdministration] : [.networkAdministration])
        }
        // A cluster's processes open the root now, as the user; a lone server after its bind.
        let files = workers > 0 || cluster.isWorker ? try makeFiles() : nil
        do throws(SystemError) {
            if cluster.isWorker {
                if let files {
                    try cluster.serve(files, host: config.host, port: config.port, configuration: config)
                } else {
                    try cluster.serve(host: config.host, port: config.port, configuration: config) { BuiltinRoutes(stats: $0) }
                }
                return true
            }
            if workers == 0 {
                if root != nil {
                    try serveAlone(config, shownHost: shownHost) { () throws(SystemError) in
                        do throws(StartError) { return try makeFiles()! } catch { throw SystemError(error.description, Errno(rawValue: 0)) }
                    }
                } else {
                    try serveAlone(config, shownHost: shownHost) { BuiltinRoutes() }
                }
                return true
            }
            var listening = 0
            var announced = false
            cluster.onListening { _, port in
                listening += 1
                if listening == workers && !announced {
                    announced = true
                    printLine("listening on http://\(shownHost):\(port)")
                }
            }
            for _ in 0..<workers { try cluster.fork() }
            try cluster.run()
        } catch {
            throw StartError(StartFailure.explain(error, port: port))
        }
        return cluster.stoppedCleanly
    }

    /// The file server of `--root`, or nil. The root was checked by validate(); one removed
    /// since, or one the user cannot search, is one line too.
    func makeFiles() throws(StartError) -> FileServer? {
        guard let root else { return nil }
        do throws(FileRootError) {
            return FileServer(root: try FileRoot(root),
                              cache: FileCache(maxFileBytes: min(64 * 1024, fileCacheBytes), maxTotalBytes: fileCacheBytes),
                              pipes: PipePool(pipeBytes: filePipeBytes))
        } catch {
            throw StartError(error.description)
        }
    }

    /// Whether the primary binds a port only root (or CAP_NET_BIND_SERVICE) may bind.
    var needsBindService: Bool {
        guard port > 0, listenFd == nil, activatedFD == nil else { return false }
        let start = KernelSetting.number("/proc/sys/net/ipv4/ip_unprivileged_port_start") ?? 1024
        return port < start
    }

    /// `--user`: becomes that user for good, when started as root (validate() checked the rest).
    /// A lookup that fails now (NSS down, the user removed since validate()) is an error:
    /// never a server left running as root without a word.
    func dropPrivileges(keeping: Privileges.Capabilities) throws(StartError) {
        guard let user else { return }
        let account: Account
        switch Account.lookUp(user: user, group: group) {
        case .success(let a): account = a
        case .failure(let e): throw StartError(e.description)
        }
        do throws(SystemError) {
            if Privileges.runsAs(account) {
                // Already the user (a worker of a primary that dropped, or started so):
                // no capability beyond those asked for, ambient ones included.
                Privileges.limitCapabilities(to: keeping)
            } else {
                try Privileges.drop(to: account, keeping: keeping)
            }
        } catch {
            throw StartError("cannot run as \(user): \(error)")
        }
    }

    var primarySettings: PrimarySettings {
        var s = PrimarySettings()
        s.mode = mode
        s.balance = balance
        s.handoff = directDescriptors ? handoff : .message
        s.listenFD = listenFd ?? activatedFD
        s.restartWorkers = true
        s.shutdownTimeoutNanoseconds = shutdownTimeout.nanoseconds
        s.readyTimeoutNanoseconds = readyTimeout.nanoseconds
        s.workerTimeoutNanoseconds = workerTimeout.nanoseconds
        s.queueLimit = queueLimit
        s.queueTimeoutNanoseconds = queueTimeout.nanoseconds
        s.drainDelayNanoseconds = drainDelay.nanoseconds
        s.forwardsSIGUSR1 = accessLog != nil
        s.proxyProtocol = serverConfiguration.proxyProtocol
        s.proxyHeaderTimeoutNanoseconds = headerTimeout.nanoseconds
        return s
    }

    /// `--workers 0`: this process serves by itself, on its own ring.
    /// `make`: the handler, built after the bind and the drop of root (a file server's root
    /// is then opened as the user, as a worker's is).
    func serveAlone<H: HTTPHandler>(_ config: ServerConfiguration, shownHost: String,
                                    handler make: () throws(SystemError) -> H) throws(SystemError) {
        let fd: Int32
        let given = listenFd ?? activatedFD
        if let given {
            fd = given
        } else {
            do throws(SystemError) {
                fd = try Socket.listen(host: config.host, port: config.port, backlog: config.backlog)
            } catch {
                throw SystemError("listen on \(shownHost):\(config.port)", error.errno)
            }
        }
        let boundPort = try Socket.localPort(fd)
        do throws(StartError) { try dropPrivileges(keeping: []) } catch { throw SystemError(error.description, Errno(rawValue: 0)) }
        let server = try HTTPServer(configuration: config, handler: try make())
        // SIGTERM/SIGINT drain, as in a cluster; a passed-in socket outlives us, unfiltered.
        // So does the listener of a server that gave up root: the SYN filter needs
        // CAP_NET_ADMIN, which a process that parses requests does not keep.
        server.attach(try GracefulStop(refusing: given == nil && user == nil ? [fd] : [],
                                       drainDelayNanoseconds: drainDelay.nanoseconds))
        server.addListener(fd, exclusive: true)
        printLine("listening on http://\(shownHost):\(boundPort)")
        try server.run()
    }
}

extension DistributionMode: ExpressibleByArgument {}
extension BalancePolicy: ExpressibleByArgument {}
extension HandoffPath: ExpressibleByArgument {}
extension AccessLogLine.Format: ExpressibleByArgument {}
