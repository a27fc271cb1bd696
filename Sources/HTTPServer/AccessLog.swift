import Glibc
import HTTP1
import URing

/// `--access-log PATH|-`: one line per answered request (AccessLogLine's formats), written
/// by each process for itself.
///
/// Lines are appended to a buffer of the loop's, which goes out in one write on the ring
/// (O_APPEND, so the workers' writes to one file never overlap: each lands whole at the
/// end) once it holds `flushBytes`, and at every tick of the loop (at most 250 ms), while
/// the next lines fill a second buffer. The loop never blocks on the disk. (A write at the
/// end of every turn cost 11% more CPU per keep-alive request than no log; BENCHMARKS.md §14.) What does not fit while a write is slow is bounded: beyond
/// `maxBufferedBytes` lines are dropped and counted, never held without end.
///
/// To a pipe (`-` when standard output is one, or a FIFO), each write is at most PIPE_BUF
/// and ends at a line's end, so lines of several workers never interleave (pipe(7): such
/// writes are atomic).
///
/// SIGUSR1 reopens the file (logrotate's `postrotate`, as for nginx): read on the ring,
/// the new file is opened once the write in flight to the old one has completed.
final class AccessLog {
    let settings: ServerConfiguration.AccessLog
    let workerID: Int
    var fd: Int32
    var isPipe: Bool
    /// Lines being filled this turn, and the bytes of the write in flight.
    var filling = RawBuffer()
    var writing = RawBuffer()
    var writingOffset = 0
    var inFlight = false
    var reopenWanted = false
    /// Lines dropped for want of room, and write errors, since start.
    private(set) var dropped = 0
    var reportedError = false
    let signals: SignalReader?
    var ring: Ring?
    /// The formatted time of the current second, per format.
    let time: UnsafeMutableRawPointer
    var timeLength = 0
    var timeSecond = -1

    static let maxBufferedBytes = 1 << 20
    /// A buffer this full is written at the end of the turn, without waiting for the tick.
    static let flushBytes = 64 * 1024

    init(_ settings: ServerConfiguration.AccessLog, workerID: Int) throws(SystemError) {
        self.settings = settings
        self.workerID = workerID
        (fd, isPipe) = try Self.open(settings.path)
        signals = settings.reopenOnSIGUSR1 ? try SignalReader([SIGUSR1]) : nil
        time = .allocate(byteCount: 32, alignment: 8)
    }

    deinit {
        if fd != STDOUT_FILENO { closeDescriptor(fd) }
        filling.release()
        writing.release()
        time.deallocate()
    }

    static func open(_ path: String) throws(SystemError) -> (Int32, Bool) {
        let fd: Int32
        if path == "-" {
            fd = STDOUT_FILENO
        } else {
            do throws(SystemError) {
                fd = try syscall("open") { Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644) }
            } catch {
                throw SystemError("open access log \(path)", error.errno)
            }
        }
        var st = stat()
        let isPipe = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFIFO
        return (fd, isPipe)
    }

    func start(ring: Ring) {
        self.ring = ring
        signals?.arm(ring, userData: UserData(kind: OperationKind.accessLogSignal.rawValue))
    }

    /// The time text of `second` (the loop's wall clock), formatted once a second.
    @inline(__always)
    func timeText(_ second: Int) -> UnsafeRawBufferPointer {
        if second != timeSecond {
            timeSecond = second
            switch settings.format {
            case .common:
                HTTPDate.formatCommonLog(epochSeconds: second, into: time)
                timeLength = HTTPDate.commonLogLength
            case .json:
                HTTPDate.formatISO(epochSeconds: second, into: time)
                timeLength = HTTPDate.isoLength
            }
        }
        return UnsafeRawBufferPointer(start: time, count: timeLength)
    }

    /// Room for one more line of about `bytes`; false (and counted) when the buffer is full.
    @inline(__always)
    func hasRoom(_ bytes: Int) -> Bool {
        if filling.count + bytes <= Self.maxBufferedBytes { return true }
        dropped += 1
        return false
    }

    /// A whole line, for an answer given in the handler's call.
    @inline(__always)
    func record(_ request: Request, second: Int, status: Int, bodyBytes: Int, durationNanoseconds: UInt64) {
        let head = request.head
        guard hasRoom(AccessLogLine.prefixBound(target: Int(head.target.count), method: Int(head.methodRange.count)) + 80) else { return }
        AccessLogLine.writePrefix(into: &filling, format: settings.format, client: request.clientAddress,
                                  method: request.slice(head.methodRange), target: request.slice(head.target),
                                  minorVersion: head.minorVersion, time: timeText(second))
        AccessLogLine.writeSuffix(into: &filling, format: settings.format, status: status, bodyBytes: bodyBytes,
                                  durationMicroseconds: Int(durationNanoseconds / 1000), worker: workerID)
    }

    /// The first half of a line, kept by a request answered later (its head's bytes may be
    /// gone by then).
    func prefix(_ request: Request, second: Int) -> [UInt8] {
        let head = request.head
        var out = RawBuffer()
        defer { out.release() }
        AccessLogLine.writePrefix(into: &out, format: settings.format, client: request.clientAddress,
                                  method: request.slice(head.methodRange), target: request.slice(head.target),
                                  minorVersion: head.minorVersion, time: timeText(second))
        return Array(out.bytes)
    }

    /// Ends a line begun with `prefix`.
    func finish(_ prefix: [UInt8], status: Int, bodyBytes: Int, durationNanoseconds: UInt64) {
        guard hasRoom(prefix.count + 80) else { return }
        prefix.withUnsafeBytes { filling.append($0) }
        AccessLogLine.writeSuffix(into: &filling, format: settings.format, status: status, bodyBytes: bodyBytes,
                                  durationMicroseconds: Int(durationNanoseconds / 1000), worker: workerID)
    }

    /// End of a turn: the lines go out if they fill `flushBytes` (or a reopen waits).
    @inline(__always)
    func flushIfFull() {
        if filling.count >= Self.flushBytes || reopenWanted { flush() }
    }

    /// The tick, or a full buffer: the lines filled go out, unless a write is still in flight.
    func flush() {
        guard !inFlight, !filling.isEmpty || reopenWanted, let ring else { return }
        if reopenWanted { reopen() }
        guard !filling.isEmpty else { return }
        swap(&filling, &writing)
        filling.count = 0
        writingOffset = 0
        submit(ring)
    }

    func submit(_ ring: Ring) {
        var count = writing.count - writingOffset
        if isPipe && count > Int(PIPE_BUF) {
            // The last line end within PIPE_BUF; a longer line goes whole (it may interleave).
            let p = writing.base!.assumingMemoryBound(to: UInt8.self) + writingOffset
            var cut = Int(PIPE_BUF)
            while cut > 0 && p[cut - 1] != 0x0A { cut -= 1 }
            if cut == 0 {
                cut = Int(PIPE_BUF)
                while cut < count && p[cut - 1] != 0x0A { cut += 1 }
            }
            count = cut
        }
        inFlight = true
        ring.write(fd, writing.base! + writingOffset, count: count, userData: UserData(kind: OperationKind.accessLogWrite.rawValue))
    }

    /// A completion of this log's (`.accessLogWrite` or `.accessLogSignal`).
    func complete(_ c: Completion) {
        switch OperationKind(rawValue: c.userData.kind) {
        case .accessLogWrite:
            inFlight = false
            if c.result < 0 {
                if c.result == -EINTR || c.result == -EAGAIN { if let ring { submit(ring) }; return }
                dropped += 1
                if !reportedError {
                    reportedError = true
                    printError("uring-cluster: access log \(settings.path): \(Errno(rawValue: -c.result)); lines are dropped until it is reopened (SIGUSR1)")
                }
                writing.count = 0
                return
            }
            writingOffset += Int(c.result)
            if writingOffset < writing.count, let ring { submit(ring); return }
            writing.count = 0
            writing.shrink(ifAbove: 256 * 1024)
            if reopenWanted { flush() }
        case .accessLogSignal:
            if signals?.signal(in: c) != nil {
                reopenWanted = true
                flush()
            }
            if let ring { signals?.arm(ring, userData: UserData(kind: OperationKind.accessLogSignal.rawValue)) }
        default:
            break
        }
    }

    /// Opens the path again (the old file was moved away); the old descriptor is closed.
    /// On failure the old one is kept, and said once.
    func reopen() {
        reopenWanted = false
        guard settings.path != "-" else { return }
        do throws(SystemError) {
            let (newFD, pipe) = try Self.open(settings.path)
            closeDescriptor(fd)
            fd = newFD
            isPipe = pipe
            reportedError = false
        } catch {
            printError("uring-cluster: cannot reopen the access log: \(error); writing on to the old file")
        }
    }

    /// At the loop's end, once no write is in flight: what is left is written now,
    /// blocking (the process is leaving).
    func flushBlocking() {
        guard !inFlight else { return }
        let rest = Array(UnsafeRawBufferPointer(start: filling.base, count: filling.count))
        filling.count = 0
        var at = 0
        while at < rest.count {
            let n = rest[at...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            at += n
        }
    }
}
