import Glibc
import URing

/// The listening sockets the primary owns, by the address workers asked for. Listeners
/// are created on a worker's first `listen` request (Node's cluster does the same) and
/// kept open by the primary for its whole life: a worker that dies takes no accept queue
/// with it. `--port 0` resolves once: every worker that asks for port 0 on a host gets the
/// same port.
struct ListenerRegistry {
    struct Key: Hashable {
        let host: String
        let port: UInt16
    }

    /// A descriptor given to the primary (`--listen-fd`, systemd): used for every request.
    var override: Int32?
    var single: [Key: (fd: Int32, port: UInt16)] = [:]
    /// reuseport: one listener per worker slot, and the port they all bind.
    var perSlot: [Key: [Int: Int32]] = [:]
    var reusePorts: [Key: UInt16] = [:]

    /// The listener shared by all workers for this address (round-robin and shared modes).
    /// `created` is true the first time, when a round-robin primary must start accepting.
    mutating func sharedListener(host: String, port: UInt16) throws(SystemError) -> (fd: Int32, port: UInt16, created: Bool) {
        let key = Key(host: host, port: port)
        if let existing = single[key] { return (existing.fd, existing.port, false) }
        let fd: Int32
        if let override {
            fd = override
        } else {
            fd = try Socket.listen(host: host, port: port)
        }
        let bound = try Socket.localPort(fd)
        single[key] = (fd, bound)
        return (fd, bound, true)
    }

    /// reuseport listeners no worker serves (its worker died or retired), which the primary
    /// accepts on meanwhile; the next worker that asks takes one over.
    var orphans: [Key: [Int32]] = [:]
    /// A rolling restart's replacement shares the listener of the worker it replaces.
    var shared: [Int: Int] = [:]

    /// The SO_REUSEPORT listener of one worker slot: the one it shares (rolling restart), its
    /// own, an orphan, or a new one. `adopted` is an orphan the primary must stop accepting on.
    mutating func reusePortListener(host: String, port: UInt16, slot: Int) throws(SystemError) -> (fd: Int32, port: UInt16, adopted: Int32?) {
        if override != nil {
            throw SystemError("reuseport mode needs its own sockets; --listen-fd works with round-robin and shared", .invalidArgument)
        }
        let key = Key(host: host, port: port)
        if let from = shared.removeValue(forKey: slot), let fd = perSlot[key]?[from] {
            perSlot[key]![from] = nil
            perSlot[key]![slot] = fd
            return (fd, reusePorts[key]!, nil)
        }
        if let fd = perSlot[key]?[slot] { return (fd, reusePorts[key]!, nil) }
        if let fd = orphans[key]?.popLast() {
            perSlot[key, default: [:]][slot] = fd
            return (fd, reusePorts[key]!, fd)
        }
        let fd = try Socket.listen(host: host, port: reusePorts[key] ?? port, reusePort: true)
        let bound = try Socket.localPort(fd)
        reusePorts[key] = bound
        perSlot[key, default: [:]][slot] = fd
        return (fd, bound, nil)
    }

    /// Whether any listener was ever opened for this address: a failure to open one before
    /// then is a failure to start, not a worker's bad luck.
    func hasListener(host: String, port: UInt16) -> Bool {
        let key = Key(host: host, port: port)
        return single[key] != nil || reusePorts[key] != nil
    }

    /// The next worker in `slot` will serve the listener of the worker in `from`.
    mutating func share(slot from: Int, with slot: Int) {
        shared[slot] = from
    }

    /// A replacement that will never ask for its listener (it failed): forget the sharing.
    mutating func unshare(slot: Int) {
        shared.removeValue(forKey: slot)
    }

    /// The worker in `slot` is gone or leaving: its listeners become orphans (returned, for
    /// the primary to accept on) unless a replacement already shares them.
    mutating func release(slot: Int) -> [Int32] {
        if shared.values.contains(slot) { return [] }
        var released: [Int32] = []
        for key in perSlot.keys {
            if let fd = perSlot[key]![slot] {
                perSlot[key]![slot] = nil
                orphans[key, default: []].append(fd)
                released.append(fd)
            }
        }
        return released
    }

    /// Every listener the primary created (not a `--listen-fd`, whose socket outlives it).
    var created: [Int32] {
        var fds = single.values.map(\.fd).filter { $0 != override }
        for slots in perSlot.values { fds += slots.values }
        for list in orphans.values { fds += list }
        return fds
    }

    func isOwned(_ fd: Int32) -> Bool {
        if fd == override { return true }
        if single.values.contains(where: { $0.fd == fd }) { return true }
        if orphans.values.contains(where: { $0.contains(fd) }) { return true }
        return perSlot.values.contains { $0.values.contains(fd) }
    }
}
