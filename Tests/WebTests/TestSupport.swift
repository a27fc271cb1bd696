import HTTP1
@testable import Web

/// Parses one whole request (head and body) with the server's own state machine and calls
/// `body` with it, as the loop would dispatch it.
func withParsedRequest<T>(_ text: String, _ body: (Request) throws -> T) throws -> T {
    var bytes = Array(text.utf8)
    let scratch = UnsafeMutableBufferPointer<HeaderField>.allocate(capacity: 101)
    defer { scratch.deallocate() }
    var machine = HTTPConnectionStateMachine(now: 0)
    return try bytes.withUnsafeMutableBytes { raw in
        var count = raw.count
        let action = machine.process(raw.baseAddress!, count: &count, now: 0, fields: scratch)
        guard case .dispatch(let head, let bodyRange, _) = action else { throw ParseFailure(action: "\(action)") }
        let request = Request(head: head, bytes: UnsafeRawBufferPointer(start: raw.baseAddress!, count: count),
                              fields: UnsafeBufferPointer(rebasing: scratch[0..<head.fieldCount]), body: bodyRange)
        return try body(request)
    }
}

struct ParseFailure: Error { let action: String }

/// The route a request for `method path` reaches, by the text its handler was named with.
func route(_ routes: FrozenRoutes, _ method: HTTPMethod, _ path: String) -> String {
    var p = path
    return p.withUTF8 { bytes -> String in
        switch routes.match(method: method, path: UnsafeRawBufferPointer(bytes)) {
        case .route(let index, let parameters):
            var text = "route \(index)"
            for i in 0..<parameters.count {
                let r = parameters[i]
                text += " \(parameters.names!.names[i])=" + String(decoding: UnsafeRawBufferPointer(bytes).slice(r.lowerBound..<r.upperBound), as: UTF8.self)
            }
            return text
        case .methodNotAllowed(let allowed):
            return FrozenRoutes.withAllowLine(allowed) { String(decoding: $0, as: UTF8.self) }
                .trimmingCharacters(in: .whitespacesAndNewlines)
        case .notFound:
            return "404"
        }
    }
}
