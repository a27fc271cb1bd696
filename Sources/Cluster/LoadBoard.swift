import Atomics
import Glibc
import URing

/// Live per-worker load in shared memory: a memfd mapped by the primary and every worker,
/// one 64-byte cache line per worker slot, so a worker's updates never share a line with
/// another's. Each field has one writer (the worker, or the primary for `restarts` and
/// `state`); readers load it with relaxed atomics, without any message or system call.
///
///     line 0      header: magic, capacity, mode, balance, primary pid
///     line 1 + i  worker slot i: the fields of `LoadBoard.Field` (lines of 128 bytes)
///     then        per worker slot, a ring of `acknowledgementCapacity` u32: the names of
///                 hand-offs through the ring that the worker adopted (one writer, the
///                 worker; one reader, the primary; `acksWritten` and `acksRead` count them)
///
/// Pages of the acknowledgement rings that no worker uses are never touched, so they cost
/// no memory.
public final class LoadBoard: @unchecked Sendable {
    public enum Field: Int, CaseIterable {
        case pid = 0
        /// A `WorkerState` raw value.
        case state
        /// Connections accepted or adopted since the worker started.
        case connections
        /// Connections open now.
        case active
        /// Requests received and not yet answered.
        case inflight
        /// Requests answered.
        case requests
        /// Times this slot's worker was replaced (written by the primary).
        case restarts
        /// CLOCK_MONOTONIC in milliseconds at the worker's last loop turn (the loop turns at
        /// least every 250 ms, on its tick).
        case heartbeat
        /// Hand-off positions the worker has dealt with, cumulative: every descriptor handed to
        /// it before this position was adopted, or refused and the refusal confirmed. The
        /// primary closes its copies up to here (the acknowledgement, without a message).
        case processed
        /// Refusal messages the primary has handled (written by the primary): the worker
        /// holds `processed` below a refused range until its refusal is confirmed.
        case refusalsConfirmed
        /// Acknowledgements written to the slot's ring (by the worker), cumulative.
        case acksWritten
        /// Acknowledgements read from it (by the primary), cumulative.
        case acksRead
        /// CLOCK_MONOTONIC in microseconds when the worker's current loop turn began; 0
        /// between turns, while it waits for completions. A turn that has run long is a
        /// long request in progress (`WorkerLoad.busy`).
        case turnStarted
        /// Connections the worker closed for want of a valid PROXY header, cumulative.
        case proxyRejects
        /// Connections the primary handed to this slot's workers, cumulative (written by the
        /// primary; kept across restarts, as `restarts`).
        case handoffs
        /// Hand-offs this slot's workers refused (their descriptor or file table full), cumulative
        /// (written by the primary; kept across restarts).
        case refusals
    }

    /// Entries in each worker's acknowledgement ring. A worker that finds it full keeps
    /// the rest for a later turn; the primary empties it every turn.
    public static let acknowledgementCapacity = 1024

    /// The primary's line. `draining`: 1 from a stop's first signal (`--drain-delay`) on,
    /// when readiness turns 503. `queueDepth`: connections waiting for a worker now.
    /// `unavailable`: 503s the primary gave. `proxyRejects`: connections the primary closed
    /// for a bad PROXY header (ip-hash peeks).
    public enum HeaderField: Int { case magic = 0, capacity, mode, balance, primaryPID, draining, queueDepth, unavailable, proxyRejects }

    /// Two cache lines per worker: the fields a worker writes every turn never share a line
    /// with another worker's.
    static let lineBytes = 128
    static let magic = 0x7572_696e_6762_6431  // "uringbd1"

    public let fd: Int32
    public let capacity: Int
    let base: UnsafeMutableRawPointer
    let size: Int

    /// Creates a board for `capacity` worker slots (the primary does this).
    public init(capacity: Int) throws(SystemError) {
        self.capacity = capacity
        let size = Self.size(capacity: capacity)
        let fd = try ProcessControl.memoryFile(name: "uring-cluster-board")
        do throws(SystemError) {
            try syscall("ftruncate") { ftruncate(fd, off_t(size)) }
            base = try Self.map(fd, size)
        } catch {
            closeDescriptor(fd)
            throw error
        }
        self.size = size
        self.fd = fd
        store(header: .magic, Self.magic)
        store(header: .capacity, capacity)
    }

    /// Maps a board created by the primary (a worker does this with the inherited fd).
    public init(mapping fd: Int32) throws(SystemError) {
        var st = stat()
        try syscall("fstat") { fstat(fd, &st) }
        self.fd = fd
        size = Int(st.st_size)
        base = try Self.map(fd, size)
        capacity = size >= Self.lineBytes ? UnsafeAtomic<Int>(at: (base + HeaderField.capacity.rawValue * 8)
            .assumingMemoryBound(to: Int.AtomicRepresentation.self)).load(ordering: .relaxed) : 0
        // The capacity is checked before any size is computed from it (junk could overflow).
        guard (1...65536).contains(capacity), size >= Self.size(capacity: capacity), load(header: .magic) == Self.magic else {
            // Every stored property is set: deinit runs and unmaps. Unmapping here too
            // would unmap twice (and could take away another mapping at that address).
            throw SystemError("LoadBoard(not a board)", .invalidArgument)
        }
    }

    deinit {
        munmap(base, size)
    }

    static func size(capacity: Int) -> Int {
        (capacity + 1) * lineBytes + capacity * acknowledgementCapacity * MemoryLayout<UInt32>.stride
    }

    @inline(__always)
    func acknowledgement(_ slot: Int, _ n: Int) -> UnsafeMutablePointer<UInt32> {
        let ring = base + (capacity + 1) * Self.lineBytes + slot * Self.acknowledgementCapacity * MemoryLayout<UInt32>.stride
        return (ring + (n % Self.acknowledgementCapacity) * MemoryLayout<UInt32>.stride).assumingMemoryBound(to: UInt32.self)
    }

    /// In a worker: publishes as many of `names` as the slot's ring has room for, oldest
    /// first, and removes them from `names`. Returns how many.
    @discardableResult
    public func publishAcknowledgements(_ slot: Int, _ names: inout [UInt32]) -> Int {
        guard !names.isEmpty else { return 0 }
        let written = atomic(line: slot + 1, field: Field.acksWritten.rawValue).load(ordering: .relaxed)
        let read = atomic(line: slot + 1, field: Field.acksRead.rawValue).load(ordering: .acquiring)
        let n = min(names.count, Self.acknowledgementCapacity - (written - read))
        guard n > 0 else { return 0 }
        for k in 0..<n { acknowledgement(slot, written + k).pointee = names[k] }
        atomic(line: slot + 1, field: Field.acksWritten.rawValue).store(written + n, ordering: .releasing)
        names.removeFirst(n)
        return n
    }

    /// In the primary: calls `body` with each name the slot's worker published since the
    /// last call.
    @inline(__always)
    public func takeAcknowledgements(_ slot: Int, _ body: (UInt32) -> Void) {
        let read = atomic(line: slot + 1, field: Field.acksRead.rawValue).load(ordering: .relaxed)
        let written = atomic(line: slot + 1, field: Field.acksWritten.rawValue).load(ordering: .acquiring)
        guard written > read, written - read <= Self.acknowledgementCapacity else { return }
        for n in read..<written { body(acknowledgement(slot, n).pointee) }
        atomic(line: slot + 1, field: Field.acksRead.rawValue).store(written, ordering: .releasing)
    }

    static func map(_ fd: Int32, _ size: Int) throws(SystemError) -> UnsafeMutableRawPointer {
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw SystemError("mmap", Errno(rawValue: Glibc.errno))
        }
        return p
    }

    @inline(__always)
    func atomic(line: Int, field: Int) -> UnsafeAtomic<Int> {
        let p = base + line * Self.lineBytes + field * MemoryLayout<Int>.stride
        return UnsafeAtomic(at: p.assumingMemoryBound(to: Int.AtomicRepresentation.self))
    }

    @inline(__always)
    public func load(_ slot: Int, _ field: Field) -> Int {
        atomic(line: slot + 1, field: field.rawValue).load(ordering: .relaxed)
    }

    @inline(__always)
    public func store(_ slot: Int, _ field: Field, _ value: Int) {
        atomic(line: slot + 1, field: field.rawValue).store(value, ordering: .relaxed)
    }

    public func load(header: HeaderField) -> Int {
        atomic(line: 0, field: header.rawValue).load(ordering: .relaxed)
    }

    public func store(header: HeaderField, _ value: Int) {
        atomic(line: 0, field: header.rawValue).store(value, ordering: .relaxed)
    }

    /// The distribution settings in force, written by the primary for /stats.
    public var mode: DistributionMode {
        get { DistributionMode.allCases[max(0, min(load(header: .mode), DistributionMode.allCases.count - 1))] }
        set { store(header: .mode, DistributionMode.allCases.firstIndex(of: newValue)!) }
    }

    public var balance: BalancePolicy {
        get { BalancePolicy.allCases[max(0, min(load(header: .balance), BalancePolicy.allCases.count - 1))] }
        set { store(header: .balance, BalancePolicy.allCases.firstIndex(of: newValue)!) }
    }

    /// Clears a slot for a new worker; `restarts` survives (it counts the slot's history).
    public func reset(_ slot: Int, pid: Int32) {
        for f in Field.allCases where f != .restarts && f != .handoffs && f != .refusals { store(slot, f, 0) }
        store(slot, .pid, Int(pid))
        store(slot, .state, WorkerState.starting.rawValue)
    }
}

/// A worker slot's life as the board shows it.
public enum WorkerState: Int, Sendable {
    case empty = 0, starting, listening, dead
}
