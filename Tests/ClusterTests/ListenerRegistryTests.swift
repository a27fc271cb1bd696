import Glibc
import Testing
import URing
@testable import Cluster

@Suite("ListenerRegistry")
struct ListenerRegistryTests {
    /// Closes every descriptor the registry holds.
    static func closeAll(_ registry: ListenerRegistry) {
        var fds = Set(registry.single.values.map(\.fd))
        for slots in registry.perSlot.values { fds.formUnion(slots.values) }
        if let o = registry.override { fds.insert(o) }
        for fd in fds { close(fd) }
    }

    @Test func sharedListenerIsCreatedOnceAndThenReused() throws {
        var registry = ListenerRegistry()
        defer { Self.closeAll(registry) }
        let first = try registry.sharedListener(host: "127.0.0.1", port: 0)
        #expect(first.created)
        #expect(first.port != 0)
        #expect(Socket.isListening(first.fd))
        #expect(try Socket.localPort(first.fd) == first.port)

        let second = try registry.sharedListener(host: "127.0.0.1", port: 0)
        #expect(!second.created)
        #expect(second.fd == first.fd)
        #expect(second.port == first.port)
        #expect(registry.single.count == 1)
    }

    @Test func sharedListenersForDifferentAddressesAreDifferent() throws {
        var registry = ListenerRegistry()
        defer { Self.closeAll(registry) }
        let a = try registry.sharedListener(host: "127.0.0.1", port: 0)
        let b = try registry.sharedListener(host: "0.0.0.0", port: 0)
        #expect(a.created && b.created)
        #expect(a.fd != b.fd)
        #expect(registry.single.count == 2)
    }

    @Test func sharedListenerRejectsABadHost() {
        var registry = ListenerRegistry()
        defer { Self.closeAll(registry) }
        #expect {
            _ = try registry.sharedListener(host: "not an address", port: 0)
        } throws: { error in
            (error as? SystemError)?.errno == .invalidArgument
        }
        #expect(registry.single.isEmpty)
    }

    @Test func reusePortListenersPerSlotShareOnePort() throws {
        var registry = ListenerRegistry()
        defer { Self.closeAll(registry) }
        let slot0 = try registry.reusePortListener(host: "127.0.0.1", port: 0, slot: 0)
        let slot1 = try registry.reusePortListener(host: "127.0.0.1", port: 0, slot: 1)
        #expect(slot0.fd != slot1.fd)
        #expect(slot0.port != 0)
        #expect(slot0.port == slot1.port)
        #expect(try Socket.localPort(slot1.fd) == slot0.port)
        #expect(Socket.isListening(slot0.fd) && Socket.isListening(slot1.fd))
        for fd in [slot0.fd, slot1.fd] {
            var on: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            #expect(getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &len) == 0)
            #expect(on != 0)
        }

        // A restarted slot gets its own listener back.
        let again = try registry.reusePortListener(host: "127.0.0.1", port: 0, slot: 0)
        #expect(again.fd == slot0.fd)
        #expect(again.port == slot0.port)
        #expect(registry.perSlot.values.reduce(0) { $0 + $1.count } == 2)
    }

    @Test func overrideIsUsedForSharedListeners() throws {
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        var registry = ListenerRegistry()
        registry.override = listener
        defer { Self.closeAll(registry) }
        let shared = try registry.sharedListener(host: "0.0.0.0", port: 8080)
        #expect(shared.created)
        #expect(shared.fd == listener)
        #expect(shared.port == (try Socket.localPort(listener)))
    }

    @Test func reusePortListenerThrowsWithAnOverride() throws {
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        var registry = ListenerRegistry()
        registry.override = listener
        defer { Self.closeAll(registry) }
        #expect {
            _ = try registry.reusePortListener(host: "127.0.0.1", port: 0, slot: 0)
        } throws: { error in
            (error as? SystemError)?.errno == .invalidArgument
        }
        #expect(registry.perSlot.isEmpty)
    }

    @Test func isOwnedKnowsTheRegistrysDescriptors() throws {
        var registry = ListenerRegistry()
        defer { Self.closeAll(registry) }
        let shared = try registry.sharedListener(host: "127.0.0.1", port: 0)
        let slot0 = try registry.reusePortListener(host: "127.0.0.1", port: 0, slot: 0)
        let slot1 = try registry.reusePortListener(host: "127.0.0.1", port: 0, slot: 1)
        #expect(registry.isOwned(shared.fd))
        #expect(registry.isOwned(slot0.fd))
        #expect(registry.isOwned(slot1.fd))

        let other = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(other) }
        #expect(!registry.isOwned(other))
        #expect(!registry.isOwned(-1))
    }

    @Test func isOwnedIncludesTheOverride() throws {
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        var registry = ListenerRegistry()
        #expect(!registry.isOwned(listener))
        registry.override = listener
        defer { Self.closeAll(registry) }
        #expect(registry.isOwned(listener))
        let other = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(other) }
        #expect(!registry.isOwned(other))
    }
}
