import HTTP1

/// Whether a server should get new traffic, as a load balancer's readiness check asks:
/// a cluster's answer comes from the shared board (the primary is not draining, a worker
/// is listening), a lone server's from itself.
public protocol ReadinessSource: AnyObject {
    var isReady: Bool { get }
}

/// The liveness and readiness paths (`ServerConfiguration.healthPath`, `readyPath`),
/// answered by the loop before the handler is called: a balancer's checks cost no handler
/// call, and an application cannot shadow or break them. Only the path is compared (a
/// query is ignored); GET and HEAD are answered, another method gets 405.
struct HealthRoutes {
    enum Route { case live, ready }

    let live: [UInt8]?
    let ready: [UInt8]?
    /// The shorter and longer of the two lengths, for a cheap miss on every other request.
    let lengths: (Int, Int)

    init?(live: String?, ready: String?) {
        guard live != nil || ready != nil else { return nil }
        self.live = live.map { Array($0.utf8) }
        self.ready = ready.map { Array($0.utf8) }
        lengths = (self.live?.count ?? -1, self.ready?.count ?? -1)
    }

    @inline(__always)
    func route(_ path: UnsafeRawBufferPointer) -> Route? {
        guard path.count == lengths.0 || path.count == lengths.1 else { return nil }
        if let live, live.elementsEqual(path) { return .live }
        if let ready, ready.elementsEqual(path) { return .ready }
        return nil
    }

    static func answer(_ route: Route, ready: Bool, method: HTTPMethod, _ writer: inout ResponseWriter) {
        guard method == .get || method == .head else {
            writer.respond(.methodNotAllowed, extraHeaders: "Allow: GET, HEAD\r\nCache-Control: no-store\r\n", body: "method not allowed\n")
            return
        }
        switch route {
        case .live:
            writer.respond(.ok, extraHeaders: "Cache-Control: no-store\r\n", body: "ok\n")
        case .ready:
            if ready {
                writer.respond(.ok, extraHeaders: "Cache-Control: no-store\r\n", body: "ready\n")
            } else {
                writer.respond(.serviceUnavailable, extraHeaders: "Cache-Control: no-store\r\n", body: "not ready\n")
            }
        }
    }
}
