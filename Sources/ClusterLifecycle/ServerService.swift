import HTTPServer
import ServiceLifecycle
import URing

/// One server in one process, with no primary, as a swift-service-lifecycle `Service`: an
/// `HTTPServer` on a thread of its own, listening on the configuration's host and port (or
/// on a listener given to it, such as systemd's).
///
/// Graceful shutdown (the group's `gracefulShutdownSignals`, another service ending) and
/// cancellation are the stop `serve --workers 0` makes on SIGTERM (GracefulStop): new
/// connections refused, those queued or mid-handshake still served for a moment, then a
/// drain that answers what is in flight; `run()` returns when no connection is left.
/// List SIGTERM and SIGINT in the group's `gracefulShutdownSignals`.
///
/// `onListening` runs on the loop's thread with the bound port (for port 0), once it listens.
/// The handler moves to the loop's thread: the caller does not use it after.
public final class ServerService<Handler: HTTPHandler>: Service, @unchecked Sendable {
    let configuration: ServerConfiguration
    let listener: Int32?
    let onListening: ((UInt16) -> Void)?
    /// Taken by `run()`, on the loop's thread from then on.
    var handler: Handler?
    let stopRequest = LoopStopRequest()

    public init(_ handler: Handler, configuration: ServerConfiguration = ServerConfiguration(),
                listener: Int32? = nil, onListening: ((UInt16) -> Void)? = nil) {
        self.handler = handler
        self.configuration = configuration
        self.listener = listener
        self.onListening = onListening
    }

    public func run() async throws {
        guard let handler else { preconditionFailure("a ServerService runs once") }
        self.handler = nil
        let serve: () throws -> Void = { try self.serve(handler) }
        let stopRequest = stopRequest
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await LoopThread.run(serve)
        } onCancelOrGracefulShutdown: {
            stopRequest.request()
        }
    }

    /// On the loop's thread.
    func serve(_ handler: Handler) throws(SystemError) {
        let fd: Int32
        if let listener {
            fd = listener
        } else {
            fd = try Socket.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        }
        let port = try Socket.localPort(fd)
        let server = try HTTPServer(configuration: configuration, handler: handler)
        // A passed-in socket outlives this process: it is not filtered at the stop.
        let stop = try GracefulStop(refusing: listener == nil ? [fd] : [], signals: [])
        server.attach(stop)
        server.addListener(fd, exclusive: true)
        stopRequest.bind(server.executor) { stop.stop() }
        defer { stopRequest.unbind() }
        onListening?(port)
        try server.run()
    }
}
