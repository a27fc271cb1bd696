import HTTP1
import HTTPServer
import URing

/// Serves the files under a directory: GET and HEAD, conditional requests (304), single
/// byte ranges (206, 416), `index.html` for a directory, a 301 to the slash form of a
/// directory named without it, 404, 403 and 405 where each belongs.
///
///     let files = try FileServer(root: FileRoot("/srv/www"))                 // everything
///     let app = try FileServer(root: FileRoot("public"), prefix: "/static")
///         .before(Application(router: router))                               // a mount
///
/// Every file operation goes through the loop's ring (FileOperations): the handler returns
/// `.pending` and a task on the loop's executor opens and stats the file. A small one is
/// read whole and kept (FileCache: later hits are answered in the handler's call, with no
/// ring operation). A larger one is spliced, file → pipe → socket, on the connection's
/// borrowed descriptor (SpliceTransfer): the pages go from the page cache to the packets
/// without a copy, as nginx's sendfile. With no pipe to be had, it is read in parts of
/// `chunkBytes` and written through the connection's stream. A file is never read whole
/// into memory, and a client that stops reading meets the send-stall timeout.
///
/// One FileServer per loop: its cache and pipes belong to the loop's thread.
///
/// What a request may name is checked twice: `RequestPath` refuses the tricks (400), and
/// the kernel's RESOLVE_BENEATH refuses any walk out of the root, symlinks included (403).
/// No directory listings (403, as nginx without autoindex) and no precompressed siblings.
public struct FileServer: HTTPHandler, Sendable {
    public let root: FileRoot
    /// Small files in memory, answered without a ring operation (FileCache).
    public let cache: FileCache
    /// The pipes larger files are spliced through (PipePool).
    public let pipes: PipePool
    let prefix: [UInt8]
    /// The most read from a file at once. Default 64 KiB.
    public var chunkBytes = 64 * 1024

    /// `prefix`: the URL path the root is served under ("/" by default), decoded.
    public init(root: FileRoot, prefix: String = "/", cache: FileCache = FileCache(), pipes: PipePool = PipePool()) {
        self.root = root
        self.cache = cache
        self.pipes = pipes
        var p = Array(prefix.utf8)
        if p.first != UInt8(ascii: "/") { p.insert(UInt8(ascii: "/"), at: 0) }
        self.prefix = p
    }

    public mutating func handle(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome {
        serve(request, &response, context) ?? notFound(&response)
    }

    func notFound(_ response: inout ResponseWriter) -> HandlerOutcome {
        response.respond(.notFound, body: "Not Found\n")
        return .done
    }

    /// Whether the raw path is under the prefix, before any decoding (no allocation): what a
    /// mount checks for every request.
    func covers(_ path: UnsafeRawBufferPointer) -> Bool {
        let base = prefix.count > 1 && prefix.last == UInt8(ascii: "/") ? prefix.count - 1 : prefix.count
        guard path.count >= base else { return false }
        for i in 0..<base where path[i] != prefix[i] { return false }
        return base == 1 || path.count == base || path[base] == UInt8(ascii: "/")
    }

    /// The answer for a request under the prefix; nil for one that is not.
    func serve(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome? {
        guard covers(request.path) || request.path.first != UInt8(ascii: "/") else { return nil }
        guard let resolved = RequestPath.relative(request.path, under: prefix) else { return nil }
        guard request.method == .get || request.method == .head else {
            response.respond(.methodNotAllowed, extraHeaders: "Allow: GET, HEAD\r\n", body: "Method Not Allowed\n")
            return .done
        }
        let target: (path: [UInt8], trailingSlash: Bool)
        switch resolved {
        case .failure(.malformed):
            response.respond(.badRequest, body: "Bad Request\n")
            return .done
        case .failure(.hidden):
            return notFound(&response)
        case .success(let t):
            target = t
        }
        let job = FileRequest(request, path: target.path, trailingSlash: target.trailingSlash)
        if let entry = cache.fresh(job.key, now: monotonicNanoseconds()) {
            job.respond(from: entry, &response)
            return .done
        }
        guard let ticket = context.pendingResponse else {
            response.respond(.internalServerError, body: "a file server needs a server to run on\n")
            return .done
        }
        let root = root
        let cache = cache
        let pipes = pipes
        let chunk = chunkBytes
        // Immediate: it runs until its open suspends, with no trip through the executor first.
        let task = Task.immediate(executorPreference: ticket.executor) {
            await FileTransfer(job: job, root: root.descriptor, cache: cache, pipes: pipes, ticket: ticket, chunkBytes: chunk).run()
            _ = root  // the root stays open while a transfer uses it
        }
        ticket.cancelling(task)
        return .pending()
    }

    /// This file server first, for the paths under its prefix; `next` for every other.
    public func before<Next: HTTPHandler>(_ next: Next) -> FilesBefore<Next> { FilesBefore(files: self, next: next) }
}

/// A file server mounted before another handler (`FileServer.before`): generic, so the
/// application's handler is called directly, with no existential per request.
public struct FilesBefore<Next: HTTPHandler>: HTTPHandler {
    public let files: FileServer
    public var next: Next

    public mutating func handle(_ request: Request, _ response: inout ResponseWriter, _ context: HandlerContext) -> HandlerOutcome {
        if files.covers(request.path), let outcome = files.serve(request, &response, context) { return outcome }
        return next.handle(request, &response, context)
    }

    public var offersBodies: Bool { next.offersBodies }
    public func streamsBody(_ request: Request) -> Bool { !files.covers(request.path) && next.streamsBody(request) }
}

/// What a file request's task needs of its request, copied out of the connection's buffer.
struct FileRequest: Sendable {
    let path: [UInt8]
    let trailingSlash: Bool
    /// The cache's key: the path, with its trailing slash (a directory's index) kept.
    var key: [UInt8] { trailingSlash ? path + [UInt8(ascii: "/")] : path }
    let isHead: Bool
    /// The raw path and query, for a redirect to the slash form.
    let rawPath: [UInt8]
    let rawQuery: [UInt8]
    let ifNoneMatch: [UInt8]?
    let ifModifiedSince: [UInt8]?
    let range: [UInt8]?
    let ifRange: [UInt8]?

    init(_ request: Request, path: [UInt8], trailingSlash: Bool) {
        self.path = path
        self.trailingSlash = trailingSlash
        isHead = request.method == .head
        rawPath = Array(request.path)
        rawQuery = request.head.query.count > 0 ? Array(request.query) : []
        ifNoneMatch = request.header("if-none-match").map { Array($0) }
        ifModifiedSince = request.header("if-modified-since").map { Array($0) }
        range = request.method == .get ? request.header("range").map { Array($0) } : nil
        ifRange = request.header("if-range").map { Array($0) }
    }
}

extension FileRequest {
    /// The plan for a file with these validators and size.
    func plan(size: Int, etag: [UInt8], modifiedSeconds: Int64) -> FilePlan {
        FilePlan.decide(isGet: !isHead, ifNoneMatch: ifNoneMatch, ifModifiedSince: ifModifiedSince, range: range,
                        ifRange: ifRange, size: size, etag: etag, modifiedSeconds: modifiedSeconds,
                        nowSeconds: ifRange == nil ? .max : Int64(wallClockSeconds()))
    }

    /// Answers from a cached file, inside the handler's call or a task's `respond`.
    func respond(from entry: FileCache.Entry, _ writer: inout ResponseWriter) {
        let plan = plan(size: entry.body.count, etag: entry.etag, modifiedSeconds: entry.modifiedSeconds)
        guard let (status, range) = plan.body(size: entry.body.count) else {
            FileRequest.respondWithoutBody(plan, lines: entry.lines, size: entry.body.count, contentType: entry.contentType, &writer)
            return
        }
        let lines = entry.lines + plan.contentRangeLine(size: entry.body.count)
        lines.withUnsafeBytes { lines in
            entry.body.withUnsafeBytes {
                writer.respond(status, contentType: ResponseWriter.bytes(entry.contentType), headerLines: lines,
                               body: UnsafeRawBufferPointer(rebasing: $0[range]))
            }
        }
    }

    /// A 304 or a 416: an answer that sends nothing of the file, from the file or the cache.
    /// `lines`: the validators' header lines.
    static func respondWithoutBody(_ plan: FilePlan, lines: [UInt8], size: Int, contentType: StaticString,
                                   _ writer: inout ResponseWriter) {
        let all = lines + plan.contentRangeLine(size: size)
        all.withUnsafeBytes {
            if plan == .notModified {
                writer.respond(.notModified, contentType: ResponseWriter.bytes(contentType), headerLines: $0,
                               body: UnsafeRawBufferPointer(start: nil, count: 0))
            } else {
                writer.respond(.rangeNotSatisfiable, contentType: ResponseWriter.bytes("text/plain"), headerLines: $0,
                               body: ResponseWriter.bytes("Range Not Satisfiable\n"))
            }
        }
    }
}
