import Glibc
import HTTP1
import HTTPServer
import URing

/// One file request's task, on the loop's executor: open beneath the root, stat, decide
/// (FilePlan), answer. A small file's body is read whole and kept (FileCache); a larger
/// one is spliced to the connection's borrowed socket (SpliceTransfer), or, with no pipe
/// to be had, read in parts written into the connection's stream, waiting for room when it
/// is full. The file is closed on every path.
struct FileTransfer {
    let job: FileRequest
    let root: Int32
    let cache: FileCache
    let pipes: PipePool
    let ticket: PendingResponse
    let chunkBytes: Int

    var operations: AwaitedOperations { ticket.operations }

    func run() async {
        var name = job.path.isEmpty ? [UInt8(ascii: ".")] : job.path
        guard var fd = await open(name, beneath: root) else { return }
        guard var status = await stat(fd) else { return }
        var viaIndex = false
        if status.kind == .directory {
            guard job.trailingSlash else {
                await operations.close(fd)
                redirectToSlash()
                return
            }
            // No listings: a directory without its index is forbidden, as in nginx.
            let directory = fd
            name = Array("index.html".utf8)
            let index = await open(name, beneath: directory, missing: .forbidden)
            await operations.close(directory)
            guard let index else { return }
            fd = index
            guard let s = await stat(fd) else { return }
            status = s
            viaIndex = true
        }
        guard status.kind == .regular else {
            await operations.close(fd)
            answer(.forbidden)
            return
        }
        if job.trailingSlash && !viaIndex {
            // A file named as a directory ("/a.txt/"): no such directory, as nginx says.
            await operations.close(fd)
            answer(.notFound)
            return
        }
        Socket.clearNonBlocking(fd)
        let contentType = MediaType.of(name)
        if cache.maxTotalBytes > 0, status.size <= cache.maxFileBytes, await cached(fd, status, contentType: contentType) {
            await operations.close(fd)
            return
        }
        await send(fd, status, contentType: contentType)
        await operations.close(fd)
    }

    /// A small file answered from the cache: kept if unchanged, else read whole and kept.
    /// False when it could not be read whole (it changed meanwhile): it is then streamed.
    func cached(_ fd: Int32, _ status: FileStatus, contentType: StaticString) async -> Bool {
        let etag = FilePlan.etag(of: status)
        let now = monotonicNanoseconds()
        if let entry = cache.entry(job.key), entry.etag == etag {
            cache.confirm(job.key, now: now)
            ticket.respond { job.respond(from: entry, &$0) }
            return true
        }
        // Read into memory of its own (the kernel writes it until the read completes), then kept.
        let size = status.size
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, size), alignment: 16)
        defer { buffer.deallocate() }
        var got = 0
        while got < size {
            guard case .success(let n) = await operations.read(fd, into: buffer + got, count: size - got, at: Int64(got)),
                  n > 0 else { return false }
            got += n
        }
        let entry = FileCache.Entry(etag: etag, modifiedSeconds: status.modifiedSeconds,
                                    lines: headerLines(status, etag: etag),
                                    body: Array(UnsafeRawBufferPointer(start: buffer, count: size)),
                                    contentType: contentType, checked: now)
        cache.store(job.key, entry)
        ticket.respond { job.respond(from: entry, &$0) }
        return true
    }

    /// Opens `name` beneath `directory`; on failure answers the request and returns nil.
    func open(_ name: [UInt8], beneath directory: Int32, missing: HTTPStatus = .notFound) async -> Int32? {
        switch await operations.open(name, beneath: directory) {
        case .success(let fd):
            return fd
        case .failure(let e):
            switch e {
            case .noSuchFileOrDirectory, .notDirectory, .fileNameTooLong: answer(missing)
            // EXDEV: the walk would leave the root (`..` in a symlink, an absolute one);
            // ELOOP: too many links; EACCES: not ours to read.
            case .improperLink, .tooManySymbolicLinkLevels, .permissionDenied, .notPermitted: answer(.forbidden)
            case .noMemory, .tooManyOpenFiles, .tooManyOpenFilesInSystem: answer(.serviceUnavailable)
            default: answer(.internalServerError)
            }
            return nil
        }
    }

    func stat(_ fd: Int32) async -> FileStatus? {
        switch await operations.status(of: fd) {
        case .success(let s):
            return s
        case .failure:
            await operations.close(fd)
            answer(.internalServerError)
            return nil
        }
    }

    /// A short error answer (the connection stays open where the status allows).
    func answer(_ status: HTTPStatus) {
        ticket.respond { writer in
            writer.respond(status, contentType: "text/plain", text: "\(status.reason)\n")
        }
    }

    /// 301 to the same path with a slash (and the same query), as nginx answers a directory.
    func redirectToSlash() {
        var location = Array("Location: ".utf8) + job.rawPath + [UInt8(ascii: "/")]
        if !job.rawQuery.isEmpty { location += [UInt8(ascii: "?")] + job.rawQuery }
        location += Array("\r\n".utf8)
        ticket.respond { writer in
            location.withUnsafeBytes { lines in
                writer.respond(.movedPermanently, contentType: ResponseWriter.bytes("text/plain"), headerLines: lines,
                               body: ResponseWriter.bytes("Moved Permanently\n"))
            }
        }
    }

    /// The validators' header lines.
    func headerLines(_ status: FileStatus, etag: [UInt8]) -> [UInt8] {
        var lines = Array("ETag: ".utf8) + etag + Array("\r\nLast-Modified: ".utf8)
        let date = UnsafeMutableRawPointer.allocate(byteCount: HTTPDate.length, alignment: 1)
        defer { date.deallocate() }
        HTTPDate.format(epochSeconds: Int(clamping: status.modifiedSeconds), into: date)
        lines += UnsafeRawBufferPointer(start: date, count: HTTPDate.length)
        lines += Array("\r\nAccept-Ranges: bytes\r\n".utf8)
        return lines
    }

    func send(_ fd: Int32, _ status: FileStatus, contentType: StaticString) async {
        let etag = FilePlan.etag(of: status)
        let plan = job.plan(size: status.size, etag: etag, modifiedSeconds: status.modifiedSeconds)
        let validators = headerLines(status, etag: etag)
        guard let (code, range) = plan.body(size: status.size) else {
            ticket.respond { FileRequest.respondWithoutBody(plan, lines: validators, size: status.size, contentType: contentType, &$0) }
            return
        }
        let start = range.lowerBound, count = range.count
        let lines = validators + plan.contentRangeLine(size: status.size)
        let started = lines.withUnsafeBytes { lines in
            ticket.startStream(code, contentType: ResponseWriter.bytes(contentType), headerLines: lines,
                               addedHeaderLines: UnsafeRawBufferPointer(start: nil, count: 0), contentLength: count)
        }
        guard started else { return }
        if job.isHead || count == 0 {
            ticket.finishStream()
            return
        }
        if let pipe = pipes.take() {
            await splice(fd, from: start, count: count, through: pipe)
            return
        }
        let size = min(chunkBytes, count)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        var offset = start
        var left = count
        while left > 0 {
            let read = await operations.read(fd, into: buffer, count: min(size, left), at: Int64(offset))
            guard case .success(let n) = read, n > 0 else {
                // An error, or the file ended early (it shrank while sent): the
                // Content-Length already sent cannot be kept, so the connection closes.
                ticket.abortStream()
                return
            }
            switch ticket.write(UnsafeRawBufferPointer(start: buffer, count: n)) {
            case .gone:
                return
            case .written(let full):
                if full {
                    do { try await ticket.waitForRoom() } catch { return }
                }
            }
            offset += n
            left -= n
        }
        ticket.finishStream()
    }

    /// The body spliced to the borrowed socket: SpliceTransfer decides each step.
    func splice(_ fd: Int32, from start: Int, count: Int, through pipe: Pipe) async {
        let socket: Descriptor
        do {
            socket = try await ticket.borrowDescriptor()
        } catch {
            pipes.give(pipe, empty: true)  // the connection went first
            return
        }
        var transfer = SpliceTransfer(offset: Int64(start), count: count, pipeCapacity: pipe.capacity)
        var action = transfer.start()
        while true {
            switch action {
            case .fill(let offset, let length):
                action = transfer.filled(await operations.splice(fd, at: offset, into: pipe.writeEnd, count: length))
            case .drain(let length):
                let result = await operations.splice(from: pipe.readEnd, to: socket, count: length)
                if result > 0 { ticket.lentProgress(sent: Int(result)) }
                action = transfer.drained(result)
            case .waitWritable:
                _ = await operations.waitWritable(socket)
                action = transfer.writable()
            case .done:
                ticket.returnDescriptor()
                pipes.give(pipe, empty: true)
                ticket.finishStream()
                return
            case .fail:
                // A broken socket (the client left, or a shutdown of a closing connection),
                // or a file that shrank: the Content-Length cannot be kept; the connection closes.
                ticket.returnDescriptor()
                pipes.give(pipe, empty: transfer.pipeIsEmpty)
                ticket.abortStream()
                return
            }
            if Task.isCancelled {
                // Abandoned (the connection is closing): give the descriptor back at once.
                ticket.returnDescriptor()
                pipes.give(pipe, empty: transfer.pipeIsEmpty)
                return
            }
        }
    }
}

extension FilePlan {
    /// The ETag of a file: its inode, size and modification time, hex, as a strong
    /// validator (a file rewritten within the same nanosecond at the same size and inode
    /// is the one case it misses, as nginx's `mtime-size` misses more).
    public static func etag(of status: FileStatus) -> [UInt8] {
        var s = "\""
        s += String(status.inode, radix: 16)
        s += "-"
        s += String(status.size, radix: 16)
        s += "-"
        s += String(status.modifiedSeconds &* 1_000_000_000 &+ Int64(status.modifiedNanoseconds), radix: 16)
        s += "\""
        return Array(s.utf8)
    }
}
