import ArgumentParser
import Glibc
import HTTP1
import HTTPServer
import URing

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve HTTP/1.1 on one port (hello world, /echo, /delay, /burn, /stats)."
    )

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

    @Option(help: "Time to receive a complete header section (408 and close), e.g. 10s or 500ms.")
    var headerTimeout = TimeSpan(seconds: 10)

    @Option(help: "How long an idle keep-alive connection stays open.")
    var keepaliveTimeout = TimeSpan(seconds: 5)

    @Option(help: "How long a request body may go without a byte arriving (408 and close).")
    var bodyTimeout = TimeSpan(seconds: 10)

    @Option(help: "Open connections served at once; beyond it new connections get 503.")
    var maxConnections = 10_000

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535, got \(port)") }
        for (name, value, low) in [("--max-header-bytes", maxHeaderBytes, 256), ("--max-target-bytes", maxTargetBytes, 16),
                                   ("--max-headers", maxHeaders, 1), ("--max-body-bytes", maxBodyBytes, 0),
                                   ("--max-connections", maxConnections, 1)] {
            guard value >= low, value <= 1 << 30 else { throw ValidationError("\(name) must be \(low)...\(1 << 30), got \(value)") }
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
        return c
    }

    func run() throws {
        let config = serverConfiguration
        do throws(SystemError) {
            let fd = try Socket.listen(host: config.host, port: config.port, backlog: config.backlog)
            let boundPort = try Socket.localPort(fd)
            let server = try HTTPServer(configuration: config, handler: BuiltinRoutes())
            server.addListener(fd)
            let shownHost = config.host.contains(":") ? "[\(config.host)]" : config.host
            printLine("listening on http://\(shownHost):\(boundPort)")
            try server.run()
        } catch {
            throw ValidationError("serve: \(error)")
        }
    }
}
