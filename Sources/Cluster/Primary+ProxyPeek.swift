import Glibc
import HTTP1
import HTTPServer
import URing

// Round-robin mode with `--balance ip-hash` behind a balancer that sends the PROXY
// protocol: the worker must be chosen by the real client's address, which only the
// header says, and the header is the worker's to read (it checks it again and takes it
// off the stream before the first request).
//
// So the primary reads it without taking it: a recv with MSG_PEEK on the ring leaves
// every byte in the socket for the worker. The peek completes once the first bytes are
// there; a header cut short (rare: balancers write it in one piece) is peeked again after
// a short timer, until the header timeout. Only the address is needed here
// (`ProxyHeader.parse(addressOnly:)`), which is at most 107 bytes of a version 1 line or
// the first 52 of version 2: one 128-byte buffer per connection waiting.
//
// The peer is checked against `--proxy-from` first (getpeername, as ip-hash already did).
// A connection from elsewhere, or with a malformed header, is closed here and counted on
// the board (`uring_cluster_primary_proxy_rejects_total`). Such connections are process
// descriptors: ip-hash hand-offs go by messages (chooseHandoff).

/// The connections whose PROXY header the primary is peeking at, in fixed slots.
final class ProxyPeeks {
    struct Entry {
        var connection: HeldConnection
        var peer: ClientAddress?
        /// When the header must be in (monotonic ns).
        var deadline: UInt64
    }

    static let bufferBytes = 128
    /// The pause before peeking again at a header cut short.
    static let retryNanoseconds: UInt64 = 5_000_000

    let settings: ServerConfiguration.ProxyProtocol
    let timeoutNanoseconds: UInt64
    let capacity: Int
    let buffers: UnsafeMutableRawPointer
    var entries: [Entry?]
    var free: [Int]

    init(settings: ServerConfiguration.ProxyProtocol, capacity: Int, timeoutNanoseconds: UInt64) {
        self.settings = settings
        self.capacity = max(1, capacity)
        self.timeoutNanoseconds = timeoutNanoseconds
        buffers = .allocate(byteCount: self.capacity * Self.bufferBytes, alignment: 16)
        entries = Array(repeating: nil, count: self.capacity)
        free = Array((0..<self.capacity).reversed())
    }

    deinit { buffers.deallocate() }

    var isEmpty: Bool { free.count == capacity }

    func buffer(_ slot: Int) -> UnsafeMutableRawPointer { buffers + slot * Self.bufferBytes }
}

extension Primary {
    /// A new connection: its header is peeked at before it is routed.
    func peekHeader(_ c: HeldConnection, _ peeks: ProxyPeeks) {
        let peer = Self.peerAddress(c.file.value)
        guard peeks.settings.trusts(peer) else {
            rejectProxy(c, .untrusted)
            return
        }
        guard let slot = peeks.free.popLast() else {
            // As many headers awaited as connections may wait for a worker: the queue is full.
            answerUnavailable(c.file)
            return
        }
        peeks.entries[slot] = ProxyPeeks.Entry(connection: c, peer: peer, deadline: c.acceptedAt &+ peeks.timeoutNanoseconds)
        submitPeek(slot, peeks)
    }

    func submitPeek(_ slot: Int, _ peeks: ProxyPeeks) {
        guard let entry = peeks.entries[slot] else { return }
        ring.peek(entry.connection.file.value, into: peeks.buffer(slot), count: ProxyPeeks.bufferBytes,
                  userData: UserData(kind: PrimaryOperation.proxyPeek.rawValue, index: UInt32(slot)))
    }

    func peeked(_ c: Completion) {
        guard let peeks, Int(c.userData.index) < peeks.capacity else { return }
        let slot = Int(c.userData.index)
        guard let entry = peeks.entries[slot] else { return }
        if c.result <= 0 {
            // The client left (0), or the socket failed: nothing to serve.
            finishPeek(slot, peeks)
            closeHeld(entry.connection.file)
            return
        }
        switch ProxyHeader.parse(UnsafeRawBufferPointer(start: peeks.buffer(slot), count: Int(c.result)),
                                 maxLength: peeks.settings.maxHeaderBytes, addressOnly: true) {
        case .header(_, let source):
            finishPeek(slot, peeks)
            var connection = entry.connection
            if let client = source ?? entry.peer { connection.clientHash = Self.hash(client) }
            route(connection, avoiding: nil)
        case .invalid(let why):
            finishPeek(slot, peeks)
            rejectProxy(entry.connection, why)
        case .needMore:
            if monotonicNanoseconds() >= entry.deadline {
                finishPeek(slot, peeks)
                rejectProxy(entry.connection, .timedOut)
            } else {
                ring.timeout(nanoseconds: ProxyPeeks.retryNanoseconds,
                             userData: UserData(kind: PrimaryOperation.proxyPeekRetry.rawValue, index: UInt32(slot)))
            }
        }
    }

    func finishPeek(_ slot: Int, _ peeks: ProxyPeeks) {
        peeks.entries[slot] = nil
        peeks.free.append(slot)
        if acceptingStopped { drainWorkersOnceSwept() }
    }

    func rejectProxy(_ c: HeldConnection, _ why: ProxyHeader.Refusal) {
        board.store(header: .proxyRejects, board.load(header: .proxyRejects) &+ 1)
        logger.debug("closed a connection before routing it: PROXY header \(why)")
        closeHeld(c.file)
    }

    /// Closes a connection the primary accepted and will not route.
    func closeHeld(_ file: Descriptor) {
        if file.isDirect { directHeld -= 1 }
        ring.close(file, userData: Self.closeUserData(file), quietOnSuccess: true)
    }
}
