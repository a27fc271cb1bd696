import Glibc
import HTTP1

/// The router's trie: one node per distinct path prefix, children by segment kind. Built
/// as routes are added (Router copies it on write), then frozen into plain buffers
/// (FrozenRoutes) when an application starts. Matching walks the request's raw path bytes
/// and compares them with the literals in place, backtracking when a branch fails;
/// parameters go inline into RouteParameters. Nothing is allocated per request.
final class RouteTable: @unchecked Sendable {
    struct Node {
        var literals: [(segment: [UInt8], child: Int)] = []
        var parameter: Int? = nil
        var any: Int? = nil
        var rest: Int? = nil
        /// The routes ending here, by method.
        var methods: [(method: HTTPMethod, route: Int)] = []
    }

    struct Route {
        let handler: RouteHandler
        let names: RouteNames
    }

    var nodes: [Node] = [Node()]
    var routes: [Route] = []

    func copy() -> RouteTable {
        let c = RouteTable()
        c.nodes = nodes
        c.routes = routes
        return c
    }

    enum Conflict: Error { case duplicate(HTTPMethod) }

    func add(_ method: HTTPMethod, _ pattern: RoutePattern, _ handler: RouteHandler) throws {
        var node = 0
        for segment in pattern.segments {
            switch segment {
            case .literal(let bytes):
                if let existing = nodes[node].literals.first(where: { $0.segment == bytes }) {
                    node = existing.child
                } else {
                    let child = newNode()
                    nodes[node].literals.append((bytes, child))
                    node = child
                }
            case .parameter:
                node = child(of: node, \.parameter)
            case .any:
                node = child(of: node, \.any)
            case .rest:
                node = child(of: node, \.rest)
            }
        }
        guard !nodes[node].methods.contains(where: { $0.method == method }) else { throw Conflict.duplicate(method) }
        routes.append(Route(handler: handler, names: RouteNames(pattern.parameterNames)))
        nodes[node].methods.append((method, routes.count - 1))
    }

    func newNode() -> Int {
        nodes.append(Node())
        return nodes.count - 1
    }

    func child(of node: Int, _ kind: WritableKeyPath<Node, Int?>) -> Int {
        if let c = nodes[node][keyPath: kind] { return c }
        let c = newNode()
        nodes[node][keyPath: kind] = c
        return c
    }

    static func name(_ m: HTTPMethod) -> String { String(describing: staticName(m)) }

    static func staticName(_ m: HTTPMethod) -> StaticString {
        switch m {
        case .get: "GET"
        case .head: "HEAD"
        case .post: "POST"
        case .put: "PUT"
        case .delete: "DELETE"
        case .options: "OPTIONS"
        case .patch: "PATCH"
        case .connect: "CONNECT"
        case .trace: "TRACE"
        case .other: "OTHER"
        }
    }

    /// The table in the flat form that requests are matched against.
    func frozen() -> FrozenRoutes { FrozenRoutes(self) }

    /// The node's route for `method`; HEAD falls back to GET.
    static func route(in methods: UnsafeBufferPointer<FrozenRoutes.MethodEntry>, for method: HTTPMethod) -> Int? {
        for m in methods where m.method == method { return Int(m.route) }
        if method == .head {
            for m in methods where m.method == .get { return Int(m.route) }
        }
        return nil
    }
}

/// The trie flattened into plain buffers (no arrays, no references), so that matching a
/// request reads memory and makes no retain, release or allocation.
final class FrozenRoutes: @unchecked Sendable {
    struct NodeEntry {
        var firstLiteral: Int32, literalCount: Int32
        var firstMethod: Int32, methodCount: Int32
        var parameter: Int32, any: Int32, rest: Int32  // -1: none
        /// The methods served here, a bit per HTTPMethod (HEAD with GET).
        var methodMask: UInt16
    }
    struct LiteralEntry { var offset: Int32, count: Int32, child: Int32 }
    struct MethodEntry { var method: HTTPMethod, route: Int32 }

    let nodes: UnsafeMutableBufferPointer<NodeEntry>
    let literals: UnsafeMutableBufferPointer<LiteralEntry>
    let literalBytes: UnsafeMutableRawBufferPointer
    let methods: UnsafeMutableBufferPointer<MethodEntry>
    let routes: [RouteTable.Route]

    init(_ table: RouteTable) {
        routes = table.routes
        nodes = .allocate(capacity: table.nodes.count)
        literals = .allocate(capacity: max(1, table.nodes.reduce(0) { $0 + $1.literals.count }))
        literalBytes = .allocate(byteCount: max(1, table.nodes.reduce(0) { $0 + $1.literals.reduce(0) { $0 + $1.segment.count } }), alignment: 1)
        methods = .allocate(capacity: max(1, table.nodes.reduce(0) { $0 + $1.methods.count }))
        var literal = 0, byte = 0, method = 0
        for (i, n) in table.nodes.enumerated() {
            nodes[i] = NodeEntry(firstLiteral: Int32(literal), literalCount: Int32(n.literals.count),
                                 firstMethod: Int32(method), methodCount: Int32(n.methods.count),
                                 parameter: Int32(n.parameter ?? -1), any: Int32(n.any ?? -1), rest: Int32(n.rest ?? -1),
                                 methodMask: n.methods.reduce(0) { $0 | Self.bit($1.method) | ($1.method == .get ? Self.bit(.head) : 0) })
            for l in n.literals {
                literals[literal] = LiteralEntry(offset: Int32(byte), count: Int32(l.segment.count), child: Int32(l.child))
                for b in l.segment { literalBytes[byte] = b; byte += 1 }
                literal += 1
            }
            for m in n.methods {
                methods[method] = MethodEntry(method: m.method, route: Int32(m.route))
                method += 1
            }
        }
    }

    deinit {
        nodes.deallocate()
        literals.deallocate()
        literalBytes.deallocate()
        methods.deallocate()
    }

    enum Match {
        case route(Int, RouteParameters)
        /// The path is served, not for this method: `allowed` has a bit for each method
        /// that any route matching the whole path serves (`allowLine`).
        case methodNotAllowed(allowed: UInt16)
        case notFound
    }

    @inline(__always) static func bit(_ m: HTTPMethod) -> UInt16 { 1 << UInt16(m.rawValue) }

    /// `Allow: GET, HEAD, …\r\n` for a 405, in HTTPMethod's order, written into `body`'s
    /// buffer without allocating (a 405 may be a client's every request).
    static func withAllowLine<T>(_ allowed: UInt16, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        withUnsafeTemporaryAllocation(byteCount: 128, alignment: 1) { buffer in
            var n = 0
            func put(_ s: StaticString) {
                memcpy(buffer.baseAddress! + n, s.utf8Start, s.utf8CodeUnitCount)
                n += s.utf8CodeUnitCount
            }
            put("Allow: ")
            var first = true
            for raw in HTTPMethod.get.rawValue..<HTTPMethod.other.rawValue {
                let method = HTTPMethod(rawValue: raw)!
                guard allowed & bit(method) != 0 else { continue }
                if !first { put(", ") }
                first = false
                put(RouteTable.staticName(method))
            }
            put("\r\n")
            return body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// The route for `path`; its parameters' ranges are offsets into the bytes `path`
    /// starts `pathOffset` bytes into (the request's).
    func match(method: HTTPMethod, path: UnsafeRawBufferPointer, pathOffset: Int = 0) -> Match {
        var parameters = RouteParameters()
        var served: UInt16 = 0
        let route = walk(node: 0, path: path, at: 0, method: method, parameters: &parameters, served: &served)
        if route >= 0 {
            parameters.shift(by: pathOffset)
            // Unowned, without a retain: `routes` lives as long as this table.
            parameters.names = routes.withUnsafeBufferPointer { $0[route].names }
            return .route(route, parameters)
        }
        return served != 0 ? .methodNotAllowed(allowed: served) : .notFound
    }

    @inline(__always)
    func methods(of node: NodeEntry) -> UnsafeBufferPointer<MethodEntry> {
        UnsafeBufferPointer(rebasing: methods[Int(node.firstMethod)..<Int(node.firstMethod + node.methodCount)])
    }

    /// The route for `method` under `node` for the path from `position`, or -1. `served`
    /// gathers the methods of every node that matched the whole path (all of them are
    /// visited when none serves `method`).
    func walk(node index: Int, path: UnsafeRawBufferPointer, at position: Int, method: HTTPMethod,
              parameters: inout RouteParameters, served: inout UInt16) -> Int {
        var start = position
        while start < path.count && path[start] == UInt8(ascii: "/") { start += 1 }
        let node = nodes[index]
        if start == path.count {
            if let route = RouteTable.route(in: methods(of: node), for: method) { return route }
            served |= node.methodMask
        } else {
            var end = start
            while end < path.count && path[end] != UInt8(ascii: "/") { end += 1 }
            let length = end - start
            for i in Int(node.firstLiteral)..<Int(node.firstLiteral + node.literalCount) {
                let l = literals[i]
                guard Int(l.count) == length,
                      memcmp(literalBytes.baseAddress! + Int(l.offset), path.baseAddress! + start, length) == 0 else { continue }
                let route = walk(node: Int(l.child), path: path, at: end, method: method, parameters: &parameters, served: &served)
                if route >= 0 { return route }
            }
            // A parameter, then `*` (a two-element loop without an array literal, which could allocate).
            for kind in 0..<2 {
                let child = kind == 0 ? node.parameter : node.any
                guard child >= 0 else { continue }
                parameters.append(ByteRange(start: start, count: length))
                let route = walk(node: Int(child), path: path, at: end, method: method, parameters: &parameters, served: &served)
                if route >= 0 { return route }
                parameters.removeLast()
            }
        }
        // `**`: the rest of the path, empty at its end.
        if node.rest >= 0 {
            let rest = nodes[Int(node.rest)]
            if let route = RouteTable.route(in: methods(of: rest), for: method) {
                parameters.append(ByteRange(start: start, count: path.count - start))
                return route
            }
            served |= rest.methodMask
        }
        return -1
    }
}
