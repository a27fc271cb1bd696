import FoundationEssentials
import Glibc
import HTTP1
import HTTPServer
import Logging
import URing

/// Node's `cluster` module for Swift. The same program runs as the primary and, executed
/// again by it, as each worker:
///
///     let cluster = Cluster()
///     if cluster.isPrimary {
///         for _ in 0..<Cluster.availableCPUs { try cluster.fork() }
///         cluster.onExit { worker, status in print("worker \(worker.pid) died") }
///         try cluster.run()
///     } else {
///         try cluster.serve(Hello(), port: 8000)
///     }
///
/// In the primary, `fork()` starts workers and `run()` runs the primary's ring until they
/// have all exited. In a worker, `serve` asks the primary for the port (the primary owns
/// every listener), then serves on the worker's own ring.
///
/// A Cluster is used on the thread that created it (the program's main thread, which
/// runs the primary's or the worker's loop); async handlers on that loop may call it,
/// since they run on the same thread (`request` checks).
public final class Cluster: @unchecked Sendable {
    /// This process's worker slot (0-based), or nil in the primary.
    public let workerSlot: Int?
    public var isPrimary: Bool { workerSlot == nil }
    public var isWorker: Bool { workerSlot != nil }
    /// The worker's id (1-based, as `Worker.id` in the primary), or nil in the primary.
    public var workerID: Int? { workerSlot.map { $0 + 1 } }
    public let logger: Logger
    public private(set) var settings: PrimarySettings
    var primaryStorage: Primary?
    var channel: WorkerChannel?
    var earlyMessages: [[UInt8]] = []
    var drainHandlers: [() -> Void] = []
    var descriptorHandler: (([UInt8], Int32) -> Void)?
    /// Handlers registered before the primary's machinery exists (it is made at the first
    /// `fork()` or `run()`, with the settings `setupPrimary` left): handed to it then.
    var earlyHooks = PrimaryHooks()
    /// In a worker, this process as a `Worker` (Node's `cluster.worker`); nil in the primary.
    public let worker: Worker?
    /// The signals this process's loop (the primary's, or a worker's) reads as a graceful
    /// stop: SIGTERM and SIGINT. Set it to [] before the first `fork()` or `serve` when
    /// something else owns them (a ServiceGroup's `gracefulShutdownSignals`; the services of
    /// ClusterLifecycle do this): that owner then stops the loop with `shutdown()`.
    public var stopSignals: [Int32] = [SIGTERM, SIGINT]
    /// `shutdown()` from any thread, before or while the loop runs.
    let stopRequest = LoopStopRequest()

    /// Reads the role from the environment the primary gave this process.
    public init(settings: PrimarySettings = PrimarySettings()) {
        self.settings = settings
        workerSlot = ProcessEnvironment.value(WorkerEnvironment.slot).flatMap(Int.init)
        logger = ClusterLogHandler.makeLogger(role: workerSlot == nil ? "Primary" : "Worker")
        worker = workerSlot.map { slot in
            let me = Worker(id: slot + 1)
            me.pid = getpid()
            me.isConnected = true
            return me
        }
    }

    public static var availableCPUs: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// The most workers a primary runs at once (slots on its shared board).
    public static let maxWorkers = PrimarySettings().maxWorkers

    /// A worker per CPU, as Node's examples fork, but never more than `maxWorkers`: on a
    /// machine with more CPUs the default must still be a valid count.
    public static func defaultWorkerCount(cpus: Int = availableCPUs) -> Int {
        min(max(1, cpus), maxWorkers)
    }

    // MARK: - Primary

    /// Node's `cluster.setupPrimary`: the settings workers are started with (the program,
    /// its arguments, environment and working directory), the distribution mode and the
    /// balance policy (Node's `schedulingPolicy`). Before the first `fork()` (or `run()`)
    /// only; handlers may be registered before or after it.
    public func setupPrimary(_ configure: (inout PrimarySettings) -> Void) {
        precondition(primaryStorage == nil, "setupPrimary comes before the first fork()")
        configure(&settings)
    }

    /// The primary's machinery; in a worker, a clear error (only the primary forks and runs).
    func primary() throws(SystemError) -> Primary {
        guard isPrimary else {
            throw SystemError("fork/run(this process is worker \(workerID!); only the primary forks and runs workers)", Errno(rawValue: EPERM))
        }
        if let p = primaryStorage { return p }
        let p = try Primary(settings: settings, stopSignals: stopSignals)
        p.hooks = earlyHooks
        earlyHooks = PrimaryHooks()
        primaryStorage = p
        stopRequest.bind(p.executor) { p.shutdown(reason: "requested") }
        return p
    }

    @discardableResult
    public func fork(environment: [String: String] = [:]) throws(SystemError) -> Worker {
        try primary().fork(environment: environment)
    }

    /// Runs the primary until every worker has exited.
    public func run() throws(SystemError) {
        let p = try primary()
        // A shutdown() after the loop has ended must not queue work on its executor.
        defer { stopRequest.unbind() }
        try p.run()
    }

    /// A graceful stop, as SIGTERM makes one. In the primary: it stops accepting and drains
    /// every worker. In a worker: the primary replaces this worker and drains it (or the
    /// worker drains alone when the primary is gone).
    /// From any thread, at any time: it runs on the loop (through its executor), and one
    /// asked for before the loop exists stops it as soon as it does.
    public func shutdown() {
        stopRequest.request()
    }

    public var workers: [Worker] { primaryStorage?.workers ?? [] }

    /// Whether the primary was asked to stop (a signal or `shutdown()`).
    public var isShuttingDown: Bool { primaryStorage?.shuttingDown ?? false }

    /// After `run()`: it was asked to stop and every worker drained in time.
    public var stoppedCleanly: Bool { primaryStorage?.stoppedCleanly ?? false }

    // The primary's events. In a worker they never fire (as in Node), so registering them
    // there is allowed and does nothing; `onMessage` is the exception (below). Each worker
    // has the same events of its own (`Worker.onExit`...), which fire first.
    public func onFork(_ f: @escaping (Worker) -> Void) { onEvent { w, e in if case .fork = e { f(w) } } }
    public func onOnline(_ f: @escaping (Worker) -> Void) { onEvent { w, e in if case .online = e { f(w) } } }
    public func onListening(_ f: @escaping (Worker, UInt16) -> Void) { onEvent { w, e in if case .listening(let p) = e { f(w, p) } } }
    public func onDisconnect(_ f: @escaping (Worker) -> Void) { onEvent { w, e in if case .disconnect = e { f(w) } } }
    public func onExit(_ f: @escaping (Worker, ExitStatus) -> Void) { onEvent { w, e in if case .exit(let s) = e { f(w, s) } } }

    /// Every event of every worker, in the primary.
    public func onEvent(_ f: @escaping (Worker, WorkerEvent) -> Void) {
        hook { $0.events.add(f) }
    }

    /// Changes the primary's hooks, or the early ones before it exists; nothing in a worker.
    func hook(_ change: (inout PrimaryHooks) -> Void) {
        guard isPrimary else { return }
        if let p = primaryStorage { change(&p.hooks) } else { change(&earlyHooks) }
    }

    /// A user message: in the primary, from a worker; in a worker, from the primary, with
    /// `worker` being this process (`Cluster.worker`).
    public func onMessage(_ f: @escaping (Worker, [UInt8]) -> Void) {
        if let me = worker {
            me.events.add { w, e in if case .message(let b) = e { f(w, b) } }
        } else {
            onEvent { w, e in if case .message(let b) = e { f(w, b) } }
        }
    }

    /// User messages that decode as JSON into `T` (others are left to other handlers).
    public func onMessage<T: Decodable>(_ type: T.Type, _ f: @escaping (Worker, T) -> Void) {
        onMessage { worker, bytes in
            if let value = ClusterMessage.decodeJSON(T.self, bytes) { f(worker, value) }
        }
    }

    /// In the primary: answers workers' `request(_:)`s of type `Request` (matched by the
    /// type's name) with `handler`'s reply, encoded as JSON. A handler that throws is a
    /// `ClusterRequestError.failed` in the worker. Runs on the primary's loop: keep it quick.
    public func onRequest<Request: Decodable, Reply: Encodable>(
        _ type: Request.Type, _ handler: @escaping (Worker, Request) throws -> Reply
    ) {
        let answer: (Worker, [UInt8]) throws -> [UInt8] = { worker, bytes in
            let request = try JSONDecoder().decode(Request.self, from: Data(bytes))
            return Array(try JSONEncoder().encode(try handler(worker, request)))
        }
        let name = Self.requestName(Request.self)
        hook { $0.requestHandlers[name] = answer }
    }

    static func requestName<T>(_ type: T.Type) -> String { String(describing: type) }

    /// In the primary: receives the descriptors workers send with a message
    /// (`cluster.worker!.send(bytes, descriptor:)` there). The handler owns each one and
    /// must close it; without a handler they are closed on arrival.
    public func onWorkerDescriptor(_ f: @escaping (Worker, [UInt8], Int32) -> Void) {
        hook { $0.workerDescriptorHandler = f }
    }

    // MARK: - Worker

    /// In a worker: `f` runs on the worker's loop when its drain begins (the cluster stops,
    /// or this worker is being replaced or disconnected), before it stops serving.
    public func onDrain(_ f: @escaping () -> Void) {
        drainHandlers.append(f)
    }

    /// In a worker: handles user messages from the primary.
    public func onPrimaryMessage(_ f: @escaping ([UInt8]) -> Void) {
        onMessage { _, bytes in f(bytes) }
    }

    /// Hands a message from the primary to every handler registered in this worker; a
    /// descriptor it carried to the `onDescriptor` handler, or closed when there is none.
    func deliverFromPrimary(_ bytes: [UInt8], descriptor: Int32? = nil) {
        if let me = worker { me.events.emit(.message(bytes), me) }
        guard let descriptor else { return }
        if let handler = descriptorHandler { handler(bytes, descriptor) } else { closeDescriptor(descriptor) }
    }

    /// In a worker: receives the descriptors the primary sends (`Worker.send(_:descriptor:)`)
    /// with their message. The handler owns each descriptor: it must close it. One handler;
    /// without one, such descriptors are closed on arrival.
    public func onDescriptor(_ f: @escaping (_ message: [UInt8], _ descriptor: Int32) -> Void) {
        descriptorHandler = f
    }

    /// In a serving worker, from an async handler: asks the primary, and awaits its
    /// reply (Node has no such call; this is the request/response that its documentation
    /// builds from messages). The primary answers with its `onRequest` handler for
    /// `Request`. Throws `ClusterRequestError` (timed out, no handler, the handler failed,
    /// the primary gone) or CancellationError when the awaiting task is cancelled.
    /// Request and reply are each at most `ClusterMessage.maxSize` bytes of JSON.
    public func request<Request: Encodable, Reply: Decodable>(
        _ request: Request, expecting: Reply.Type = Reply.self, timeout: Duration = .seconds(5)
    ) async throws -> Reply {
        guard let channel, let executor = channel.server?.executor else { throw ClusterRequestError.notAWorker }
        precondition(executor.isOnLoopThread, "Cluster.request is called from a task on the worker's loop")
        let name = Self.requestName(Request.self)
        let payload: [UInt8]
        do {
            payload = Array(try JSONEncoder().encode(request))
        } catch {
            throw ClusterRequestError.unsendable("\(Request.self) could not be encoded as JSON: \(error)")
        }
        guard payload.count + name.utf8.count + 11 <= ClusterMessage.maxSize else {
            throw ClusterRequestError.unsendable("\(payload.count) bytes; at most \(ClusterMessage.maxSize) fit in a message")
        }
        let (seconds, attoseconds) = timeout.components
        // Saturating: a timeout of years is "no timeout", never a trap.
        let whole = seconds >= Int64(UInt64.max / 1_000_000_000) ? UInt64.max / 2 : UInt64(max(0, seconds)) * 1_000_000_000
        let nanoseconds = whole + UInt64(max(0, attoseconds) / 1_000_000_000)
        let id = channel.requests.newID()
        let link = ChannelLink(channel: channel)
        let bytes = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                channel.request(id: id, name: name, payload: payload, timeoutNanoseconds: nanoseconds,
                                continuation: continuation)
            }
        } onCancel: {
            // Any thread may cancel: the table is the loop's, so the cancel goes there.
            Task(executorPreference: executor) { link.channel.requests.cancel(id: id) }
        }
        do {
            return try JSONDecoder().decode(Reply.self, from: Data(bytes))
        } catch {
            throw ClusterRequestError.badReply("\(error)")
        }
    }

    /// In a worker: sends a user message to the primary.
    /// Before `serve` starts, messages wait and leave once the worker has its port.
    /// Throws EMSGSIZE above `ClusterMessage.maxUserPayload` bytes, EPERM in the primary.
    public func sendToPrimary(_ bytes: [UInt8]) throws(SystemError) {
        guard isWorker else { throw SystemError("sendToPrimary(called in the primary)", Errno(rawValue: EPERM)) }
        try ClusterMessage.checkUserPayload(bytes.count)
        if let channel { channel.send(bytes) } else { earlyMessages.append(bytes) }
    }

    /// In a worker: serves `handler` on the port the primary listens on for it. Returns
    /// when the primary disconnects the worker.
    public func serve<H: HTTPHandler>(_ handler: H, host: String = "127.0.0.1", port: UInt16,
                                      configuration: ServerConfiguration = ServerConfiguration()) throws(SystemError) {
        try serve(host: host, port: port, configuration: configuration) { _ in handler }
    }

    /// As `serve(_:host:port:configuration:)`, with the handler built once the worker knows
    /// the shared board (for handlers that report cluster-wide stats).
    public func serve<H: HTTPHandler>(host: String = "127.0.0.1", port: UInt16,
                                      configuration: ServerConfiguration = ServerConfiguration(),
                                      handler make: ((any StatsSource)?) -> H) throws(SystemError) {
        guard let slot = workerSlot,
              let channelFD = ProcessEnvironment.value(WorkerEnvironment.channel).flatMap(Int32.init) else {
            throw SystemError("serve(called in the primary; the primary calls fork() and run())", Errno(rawValue: EPERM))
        }
        // SIGTERM and SIGINT are read on the worker's ring (WorkerChannel): a signal to the
        // whole process group (Ctrl-C, systemd's control-group stop) must drain, not kill.
        // Unless a host owns them (stopSignals).
        let signals = stopSignals.isEmpty ? nil : try SignalReader(stopSignals)
        // Never outlive the primary: its death sends SIGTERM, which drains (the channel's end
        // says the same).
        try ProcessControl.setParentDeathSignal(SIGTERM)
        if let expected = ProcessEnvironment.value(WorkerEnvironment.primaryPID).flatMap(Int32.init), getppid() != expected {
            exit(1)
        }
        let board = ProcessEnvironment.value(WorkerEnvironment.board).flatMap(Int32.init).flatMap { fd -> LoadBoard? in
            try? LoadBoard(mapping: fd)
        }
        try Channel.send(channelFD, .online)
        try Channel.send(channelFD, .listen(host: host, port: port))
        // The primary may send before it answers (Worker.send from onFork or onOnline, or a
        // drain): such messages wait for the loop; the listen reply is what start-up needs.
        var fromPrimary: [(bytes: [UInt8], descriptor: Int32?)] = []
        var drainAtStart: Bool? = nil  // a drain came first; whether it sweeps
        var reply: (port: UInt16, fds: [Int32])? = nil
        while reply == nil {
            guard let (message, fds) = try Channel.receive(channelFD) else {
                throw SystemError("listen(primary closed the channel)", .connectionReset)
            }
            switch message {
            case .listenReply(let boundPort, let err):
                // Started while the cluster stops: there is nothing to serve; leave cleanly.
                if err == ESHUTDOWN {
                    logger.debug("the cluster is stopping; leaving before serving")
                    return
                }
                if err != 0 { throw SystemError("listen on \(host):\(port)", Errno(rawValue: err)) }
                reply = (boundPort, fds)
                continue
            case .userFromPrimary(let bytes):
                // Its descriptor, if any, waits with it.
                fromPrimary.append((bytes, fds.first))
                for fd in fds.dropFirst() { closeDescriptor(fd) }
                continue
            case .drain(let sweep): drainAtStart = sweep
            default: logger.notice("unexpected message before the listen reply: \(message); ignored")
            }
            for fd in fds { closeDescriptor(fd) }
        }
        let (boundPort, fds) = reply!

        var config = configuration
        config.workerID = slot + 1
        let stats: (any StatsSource)? = board.map { BoardStats(board: $0, slot: slot) }
        let server = try HTTPServer(configuration: config, handler: make(stats))
        server.readiness = board.map { BoardReadiness(board: $0) }
        for f in drainHandlers { server.onDrain(f) }
        let channel = WorkerChannel(fd: channelFD, signals: signals, board: board, slot: slot)
        channel.onMessage = { [unowned self] in deliverFromPrimary($0, descriptor: $1) }
        self.channel = channel
        worker?.channel = channel
        // Messages sent before serving leave now, on the blocking start-up path: the loop may
        // never turn (a drain that came before the listen reply, with nothing to serve).
        for m in earlyMessages { try Channel.send(channelFD, .userFromWorker(m)) }
        earlyMessages.removeAll()
        server.attach(channel)
        for fd in fds { server.addListener(fd) }
        try Channel.send(channelFD, .listening(port: boundPort, ring: server.usesDirectDescriptors ? server.ringDescriptor : -1))
        logger.debug("listening on \(host):\(boundPort) (id \(slot + 1))")
        for m in fromPrimary { deliverFromPrimary(m.bytes, descriptor: m.descriptor) }
        if let sweep = drainAtStart { server.drain(sweepingListeners: sweep) }
        stopRequest.bind(server.executor) { channel.leave() }
        defer { stopRequest.unbind() }
        try server.run()
        // Nothing will read a reply now.
        channel.requests.failAll(.primaryGone)
    }
}
