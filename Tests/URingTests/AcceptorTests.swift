import Glibc
import Testing
@testable import URing

/// The one accept path, on a real ring and real loopback sockets.
@Suite("Acceptor", .enabled(if: ioUringPermitted, "io_uring_setup is not permitted here"))
struct AcceptorTests {
    static let kinds = Acceptor.Kinds(accept: 1, retry: 2, sweep: 3, cancel: 4)

    /// A blocking client connected to `port` (the handshake completes into the listener's queue).
    static func connectClient(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(rc == 0)
        return fd
    }

    /// Turns the ring, feeding the acceptor, until `done` holds (at most `turns` turns).
    static func run(_ ring: Ring, _ acceptor: inout Acceptor, turns: Int = 200,
                    until done: (_ acceptor: Acceptor, _ events: [Acceptor.Event]) -> Bool) throws -> [Acceptor.Event] {
        var events: [Acceptor.Event] = []
        for _ in 0..<turns where !done(acceptor, events) {
            try ring.submitAndWait(1)
            ring.drainCompletions { c in
                let e = acceptor.complete(c, ring: ring)
                if e != .none { events.append(e) }
            }
        }
        return events
    }

    static func connections(_ events: [Acceptor.Event]) -> [Int32] {
        events.compactMap { if case .connection(let file) = $0 { return file.value } else { return nil } }
    }

    @Test func acceptsEveryConnectionWithOneMultishotAccept() throws {
        let ring = try Ring(entries: 16)
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { closeDescriptor(listener) }
        let port = try Socket.localPort(listener)
        var acceptor = Acceptor(kinds: Self.kinds)
        acceptor.add(listener, owned: false, ring: ring)
        let clients = (0..<5).map { _ in Self.connectClient(port) }
        defer { clients.forEach(closeDescriptor) }
        let events = try Self.run(ring, &acceptor) { Self.connections($1).count == 5 }
        let accepted = Self.connections(events)
        #expect(accepted.count == 5)
        // Accepted close-on-exec, as every descriptor here is.
        #expect(accepted.allSatisfy { fcntl($0, F_GETFD) & FD_CLOEXEC != 0 })
        accepted.forEach(closeDescriptor)
        #expect(!acceptor.isIdle, "the multishot accept stays armed")
    }

    /// With a file table, connections arrive as direct descriptors (slots, not process
    /// descriptors), a send on the slot reaches the client, and the client inherits the
    /// listener's TCP_NODELAY, so no system call is needed per connection.
    @Test func acceptsDirectDescriptorsIntoTheFileTable() throws {
        let ring = try Ring(entries: 16)
        #expect(ring.registerFileTable(count: 8))
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { closeDescriptor(listener) }
        let port = try Socket.localPort(listener)
        var acceptor = Acceptor(kinds: Self.kinds)
        acceptor.direct = true
        acceptor.add(listener, owned: false, ring: ring)
        let clients = (0..<3).map { _ in Self.connectClient(port) }
        defer { clients.forEach(closeDescriptor) }
        let events = try Self.run(ring, &acceptor) { Self.connections($1).count == 3 }
        let files = events.compactMap { e -> Descriptor? in if case .connection(let f) = e { return f } else { return nil } }
        #expect(files.count == 3 && files.allSatisfy(\.isDirect))
        #expect(Set(files.map(\.value)).count == 3 && files.allSatisfy { $0.value >= 0 && $0.value < 8 })
        // None of them is a process descriptor of this process (a number is open only if
        // something else of this parallel test run holds it, so only the slots are checked).
        // A fixed-file send on each slot reaches its client (which client got which slot
        // is the kernel's order, so each client reads one greeting).
        let greeting = Array("hi".utf8)
        try greeting.withUnsafeBytes { b in
            for (k, f) in files.enumerated() { ring.send(f, b.baseAddress!, count: 2, userData: UserData(kind: 9, index: UInt32(k))) }
            var sent = 0
            for _ in 0..<50 where sent < 3 {
                try ring.submitAndWait(1)
                ring.drainCompletions { if $0.userData.kind == 9 { #expect($0.result == 2); sent += 1 } }
            }
            #expect(sent == 3)
        }
        for c in clients {
            var buffer = [UInt8](repeating: 0, count: 2)
            #expect(recv(c, &buffer, 2, Int32(MSG_WAITALL)) == 2 && buffer == greeting)
        }
    }

    /// A drain's sweep: connections the kernel completed are delivered, not left queued,
    /// and the acceptor is idle afterwards with its owned listener closed.
    @Test func stopWithSweepDeliversWhatIsQueuedThenGoesIdle() throws {
        let ring = try Ring(entries: 16)
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        let identity = fileIdentity(listener)
        let port = try Socket.localPort(listener)
        let clients = (0..<4).map { _ in Self.connectClient(port) }
        defer { clients.forEach(closeDescriptor) }
        #expect(Socket.acceptQueueLength(listener) == 4, "the sweep's budget starts from this")
        var acceptor = Acceptor(kinds: Self.kinds)
        acceptor.add(listener, owned: true, ring: ring)
        acceptor.stop(sweep: true, ring: ring)
        let events = try Self.run(ring, &acceptor) { a, _ in a.isIdle }
        #expect(acceptor.isIdle)
        #expect(Self.connections(events).count == 4)
        Self.connections(events).forEach(closeDescriptor)
        acceptor.closeListeners()
        #expect(fileIdentity(listener) != identity, "the owned listener is closed")
        #expect(acceptor.descriptors.isEmpty)
    }

    /// An empty queue ends the sweep at once (ACCEPT_DONTWAIT), instead of waiting for a
    /// connection that may never come.
    @Test func aSweepOfAnEmptyQueueEnds() throws {
        let ring = try Ring(entries: 16)
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { closeDescriptor(listener) }
        var acceptor = Acceptor(kinds: Self.kinds)
        acceptor.add(listener, owned: false, ring: ring)
        acceptor.stop(sweep: true, ring: ring)
        let events = try Self.run(ring, &acceptor) { a, _ in a.isIdle }
        #expect(acceptor.isIdle)
        #expect(events.isEmpty)
        #expect(fcntl(listener, F_GETFD) >= 0, "a listener not owned stays open")
    }

    /// Every error waits before the accept is armed again, doubling, and is reported once:
    /// a listener that fails every accept (shut down: EINVAL) does not spin the loop.
    @Test func everyErrorBacksOffAndIsReportedOnce() throws {
        let ring = try Ring(entries: 16)
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { closeDescriptor(listener) }
        #expect(Glibc.shutdown(listener, Int32(SHUT_RDWR)) == 0)
        var acceptor = Acceptor(kinds: Self.kinds)
        acceptor.add(listener, owned: false, ring: ring)
        var retries = 0
        var failures: [Acceptor.Event] = []
        for _ in 0..<200 where retries < 4 {
            try ring.submitAndWait(1)
            ring.drainCompletions { c in
                if c.userData.kind == Self.kinds.retry { retries += 1 }
                let e = acceptor.complete(c, ring: ring)
                if e != .none { failures.append(e) }
            }
        }
        #expect(retries == 4, "each failure re-armed from a timer")
        #expect(acceptor.backoff.consecutiveErrors >= 4)
        #expect(failures == [.failed(.invalidArgument, retryNanoseconds: AcceptBackoff.firstDelayNanoseconds)],
                "reported once, with the first delay")
        // A stop cancels the pending retry timer: idle without waiting for it.
        acceptor.stop(sweep: false, ring: ring)
        _ = try Self.run(ring, &acceptor) { a, _ in a.isIdle }
        #expect(acceptor.isIdle)
    }

    /// `remove`: another process serves the listener now; no accept is left on it, and it
    /// is not closed. Its slot is reused by the next listener.
    @Test func removeStopsAcceptingWithoutClosing() throws {
        let ring = try Ring(entries: 16)
        let first = try Socket.listen(host: "127.0.0.1", port: 0)
        let second = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { closeDescriptor(first); closeDescriptor(second) }
        var acceptor = Acceptor(kinds: Self.kinds)
        acceptor.add(first, owned: false, ring: ring)
        acceptor.remove(first, ring: ring)
        _ = try Self.run(ring, &acceptor) { a, _ in a.isIdle }
        #expect(acceptor.isIdle)
        #expect(acceptor.descriptors.isEmpty)
        #expect(fcntl(first, F_GETFD) >= 0)
        // A connection to the removed listener stays queued for its new owner.
        let client = Self.connectClient(try Socket.localPort(first))
        defer { closeDescriptor(client) }
        acceptor.add(second, owned: false, ring: ring)
        #expect(acceptor.listeners.count == 1, "the idle slot is reused")
        let other = Self.connectClient(try Socket.localPort(second))
        defer { closeDescriptor(other) }
        let events = try Self.run(ring, &acceptor) { Self.connections($1).count == 1 }
        #expect(Self.connections(events).count == 1)
        Self.connections(events).forEach(closeDescriptor)
        var pending = pollfd(fd: first, events: Int16(POLLIN), revents: 0)
        #expect(poll(&pending, 1, 0) == 1, "the removed listener's connection is still queued")
    }
}

@Suite("Sweeping without the ring")
struct SynchronousSweepTests {
    /// The probe agrees with the kernel's version: ACCEPT_DONTWAIT came in Linux 6.10
    /// (this machine runs 6.18); older kernels use the fallback below.
    @Test func theProbeMatchesTheKernelVersion() {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        let atLeast610 = parts.count == 2 && (parts[0], parts[1]) >= (6, 10)
        #expect(Acceptor.dontWaitSupported == atLeast610, "kernel \(release)")
    }

    /// Without ACCEPT_DONTWAIT an exclusive listener is swept synchronously (its
    /// connections come from `takeSwept`), and a shared one is not swept at all: a blocking
    /// accept there could wait forever for a connection another process took.
    @Test func withoutDontWaitOnlyExclusiveListenersAreSwept() throws {
        let ring = try Ring(entries: 16)
        let exclusive = try Socket.listen(host: "127.0.0.1", port: 0)
        let shared = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { closeDescriptor(exclusive); closeDescriptor(shared) }
        let clients = (0..<2).map { _ in AcceptorTests.connectClient(try! Socket.localPort(exclusive)) }
            + [AcceptorTests.connectClient(try Socket.localPort(shared))]
        defer { clients.forEach(closeDescriptor) }
        var acceptor = Acceptor(kinds: AcceptorTests.kinds, dontWait: false)
        acceptor.stop(sweep: true, ring: ring)
        acceptor.add(exclusive, owned: false, exclusive: true, ring: ring)
        acceptor.add(shared, owned: false, exclusive: false, ring: ring)
        var swept: [Int32] = []
        acceptor.takeSwept { swept.append($0.value) }
        #expect(swept.count == 2)
        #expect(acceptor.isIdle, "nothing went to the ring")
        #expect(Socket.acceptQueueLength(shared) == 1, "the shared listener's connection is left for the others")
        swept.forEach(closeDescriptor)
    }

    /// The fallback for kernels without ACCEPT_DONTWAIT: exclusive listeners only, bounded.
    @Test func takesAtMostItsLimitAndNeverBlocks() throws {
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { closeDescriptor(listener) }
        let port = try Socket.localPort(listener)
        let clients = (0..<3).map { _ in AcceptorTests.connectClient(port) }
        defer { clients.forEach(closeDescriptor) }
        var taken: [Int32] = []
        Socket.acceptQueuedExclusively(listener, limit: 2) { taken.append($0) }
        #expect(taken.count == 2)
        #expect(Socket.acceptQueueLength(listener) == 1)
        Socket.acceptQueuedExclusively(listener, limit: 10) { taken.append($0) }
        #expect(taken.count == 3, "an empty queue ends the sweep instead of blocking")
        #expect(taken.allSatisfy { fcntl($0, F_GETFD) & FD_CLOEXEC != 0 })
        #expect(fcntl(listener, F_GETFL) & O_NONBLOCK == 0, "the listener's flags are restored")
        taken.forEach(closeDescriptor)
    }
}

@Suite("Completion")
struct CompletionTests {
    static func c(_ result: Int32, _ flags: UInt32 = 0) -> Completion {
        Completion(userData: UserData(kind: 1), result: result, flags: flags)
    }

    @Test func acceptResults() {
        #expect(Self.c(7).accepted == .connection(7))
        #expect(Self.c(-ECANCELED).accepted == .canceled)
        #expect(Self.c(-EMFILE).accepted == .failed(.tooManyOpenFiles))
    }

    @Test func receiveResults() {
        let more: UInt32 = 1 << 1       // IORING_CQE_F_MORE
        let buffer: UInt32 = 1 << 0     // IORING_CQE_F_BUFFER; the id sits above bit 16
        #expect(Self.c(100, buffer | more | (9 << 16)).received == .bytes(bufferID: 9, count: 100))
        #expect(Self.c(100, buffer | more | (9 << 16)).hasMore)
        #expect(Self.c(0).received == .endOfInput)
        #expect(Self.c(-ENOBUFS).received == .noBuffers)
        #expect(Self.c(-ECANCELED).received == .canceled)
        #expect(Self.c(-ECONNRESET).received == .failed(.connectionReset))
        #expect(Self.c(5).received == .failed(.ioError), "bytes without a buffer are a failure, not a crash")
        #expect(Self.c(0).bufferID == nil)
        #expect(!Self.c(0).hasMore)
    }

    @Test func transferAndTimerResults() {
        #expect(Self.c(42).transferred == .success(42))
        #expect(Self.c(-EPIPE).transferred == .failure(.brokenPipe))
        #expect(Self.c(-ETIME).timer == .fired)
        #expect(Self.c(-ECANCELED).timer == .canceled)
        #expect(Self.c(-EINVAL).timer == .failed(.invalidArgument))
        #expect(Self.c(0).error == nil)
    }
}

