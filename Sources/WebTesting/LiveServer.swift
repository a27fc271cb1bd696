import Foundation
import HTTP1
import HTTPServer
import URing

/// A real server for a test: `handler` served by an HTTPServer on 127.0.0.1, on a port the
/// kernel picks, on a thread of its own (the loop's), until `stop()`.
///
///     let server = try LiveServer(Application(router: router))
///     let response = try fetch(server.port, "GET /users/7 HTTP/1.1\r\nHost: t\r\n\r\n")
///     server.stop()
public final class LiveServer<Handler: HTTPHandler>: @unchecked Sendable {
    public let port: Int
    /// The loop's executor, for work a test wants run on the loop.
    public let executor: RingExecutor
    let finished = DispatchSemaphore(value: 0)
    /// The server, touched only on the loop's thread.
    let box: ServerBox
    private var stopped = false

    final class ServerBox: @unchecked Sendable {
        var server: HTTPServer<Handler>?
    }

    /// Starts serving on a free port of 127.0.0.1; `configure` adjusts the configuration
    /// first (its host may be set to `::1`; the port is always chosen here).
    public init(_ handler: Handler, configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configure(&configuration)
        configuration.port = 0
        let box = ServerBox()
        let started = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var startup: Result<(UInt16, RingExecutor), SystemError>? = nil
        nonisolated(unsafe) let handler = handler
        let finished = self.finished
        let config = configuration
        let thread = Thread {
            do throws(SystemError) {
                // The ring is created on the thread that runs it (SINGLE_ISSUER).
                let server = try HTTPServer(configuration: config, handler: handler)
                let listener = try Socket.listen(host: config.host, port: 0)
                let port = try Socket.localPort(listener)
                server.addListener(listener, exclusive: true)
                box.server = server
                startup = .success((port, server.executor))
                started.signal()
                try server.run()
            } catch {
                if startup == nil {
                    startup = .failure(error)
                    started.signal()
                } else {
                    printError("LiveServer: the loop failed: \(error)")
                }
            }
            box.server = nil
            finished.signal()
        }
        thread.start()
        started.wait()
        switch startup! {
        case .success(let (port, executor)):
            self.port = Int(port)
            self.executor = executor
        case .failure(let error):
            finished.wait()
            throw error
        }
        self.box = box
    }

    /// Runs `body` on the loop's thread with the server, and waits for it.
    public func onLoop<T: Sendable>(_ body: @escaping @Sendable (HTTPServer<Handler>) -> T) async -> T? {
        let box = self.box
        return await Task(executorPreference: executor) { box.server.map(body) }.value
    }

    /// Ends the loop at once (connections in progress are cut) and waits for its thread.
    public func stop() {
        stopImpl(graceful: false)
    }

    /// A graceful stop (HTTPServer.drain): what is in progress is answered first.
    public func drain() {
        stopImpl(graceful: true)
    }

    func stopImpl(graceful: Bool) {
        guard !stopped else { return }
        stopped = true
        let box = self.box
        Task(executorPreference: executor) {
            if graceful { box.server?.drain() } else { box.server?.stop() }
        }
        finished.wait()
    }

    deinit { stop() }
}
