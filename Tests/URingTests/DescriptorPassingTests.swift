import Glibc
import Testing
@testable import URing

/// MSG_RING hand-offs between two rings, the second reached through pidfd_getfd as a
/// primary reaches a worker's (here both rings are in this process).
@Suite("Descriptor passing", .enabled(if: ioUringPermitted, "io_uring_setup is not permitted here"))
struct DescriptorPassingTests {
    @Test func theProbeSucceedsOnThisKernel() {
        #expect(DescriptorPassingProbe.check() == nil)
    }

    /// A connection accepted into the sender's table is installed into the target's: the
    /// target's completion carries its slot, the sender keeps its own until it closes it,
    /// and the connection lives on after the sender's close.
    @Test func aConnectionMovesIntoAnotherRingsFileTable() throws {
        let sender = try Ring(entries: 16)
        let target = try Ring(entries: 16)
        #expect(sender.registerFileTable(count: 4) && target.registerFileTable(count: 4))
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { closeDescriptor(listener) }
        let client = AcceptorTests.connectClient(try Socket.localPort(listener))
        defer { closeDescriptor(client) }
        sender.acceptQueued(listener, direct: true, userData: UserData(kind: 1))
        var slot: Int32 = -1
        for _ in 0..<50 where slot < 0 {
            try sender.submitAndWait(1)
            sender.drainCompletions { slot = $0.result }
        }
        #expect(slot >= 0)
        let reach = try ProcessControl.takeDescriptor(of: getpid(), number: target.descriptor)
        defer { closeDescriptor(reach) }
        sender.sendDescriptor(slot, toRing: reach, targetUserData: UserData(kind: 7, index: 42), userData: UserData(kind: 2))
        var sent: Int32? = nil
        for _ in 0..<50 where sent == nil {
            try sender.submitAndWait(1)
            sender.drainCompletions { sent = $0.result }
        }
        #expect(sent == 0)
        sender.close(Descriptor(direct: slot), userData: UserData(kind: 3))
        try sender.submitAndWait(1)
        sender.drainCompletions { #expect($0.result == 0) }
        var installed: Completion? = nil
        try target.submitAndWait(1)
        target.drainCompletions { installed = $0 }
        #expect(installed?.userData == UserData(kind: 7, index: 42))
        let theirs = Descriptor(direct: installed?.result ?? -1)
        #expect(theirs.value >= 0)
        let bytes = Array("moved".utf8)
        try bytes.withUnsafeBytes { b in
            target.send(theirs, b.baseAddress!, count: b.count, userData: UserData(kind: 4))
            try target.submitAndWait(1)
            target.drainCompletions { #expect($0.result == Int32(bytes.count)) }
        }
        var buffer = [UInt8](repeating: 0, count: bytes.count)
        #expect(recv(client, &buffer, bytes.count, Int32(MSG_WAITALL)) == bytes.count && buffer == bytes)
    }

    /// A full target table refuses the hand-off with ENFILE, the primary's signal to route
    /// the connection elsewhere; the sender still holds it.
    @Test func aFullTargetTableRefusesWithENFILE() throws {
        let sender = try Ring(entries: 16)
        let target = try Ring(entries: 16)
        #expect(sender.registerFileTable(count: 4) && target.registerFileTable(count: 1))
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { closeDescriptor(listener) }
        let port = try Socket.localPort(listener)
        let clients = (0..<2).map { _ in AcceptorTests.connectClient(port) }
        defer { clients.forEach(closeDescriptor) }
        var slots: [Int32] = []
        for _ in 0..<100 where slots.count < 2 {
            sender.acceptQueued(listener, direct: true, userData: UserData(kind: 1))
            try sender.submitAndWait(1)
            sender.drainCompletions { if $0.result >= 0 { slots.append($0.result) } }
        }
        #expect(slots.count == 2)
        let reach = try ProcessControl.takeDescriptor(of: getpid(), number: target.descriptor)
        defer { closeDescriptor(reach) }
        var results: [Int32] = []
        for s in slots {
            sender.sendDescriptor(s, toRing: reach, targetUserData: UserData(kind: 7), userData: UserData(kind: 2))
            for _ in 0..<50 where results.count < slots.firstIndex(of: s)! + 1 {
                try sender.submitAndWait(1)
                sender.drainCompletions { results.append($0.result) }
            }
        }
        #expect(results == [0, -ENFILE])
    }
}
