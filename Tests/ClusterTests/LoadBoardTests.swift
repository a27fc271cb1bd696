import Dispatch
import Glibc
import Testing
import URing
@testable import Cluster

@Suite("LoadBoard")
struct LoadBoardTests {
    /// A board, and a second mapping of it through a duplicate of its descriptor (as a
    /// worker maps the inherited one).
    static func boardAndMapping(capacity: Int = 4) throws -> (LoadBoard, LoadBoard, Int32) {
        let board = try LoadBoard(capacity: capacity)
        let copy = dup(board.fd)
        guard copy >= 0 else { throw SystemError("dup", Errno(rawValue: errno)) }
        do {
            return (board, try LoadBoard(mapping: copy), copy)
        } catch {
            close(copy)
            close(board.fd)
            throw error
        }
    }

    @Test func aNewBoardHasItsCapacityAndZeroedSlots() throws {
        let board = try LoadBoard(capacity: 4)
        defer { close(board.fd) }
        #expect(board.capacity == 4)
        #expect(board.size == 5 * LoadBoard.lineBytes + 4 * LoadBoard.acknowledgementCapacity * 4)
        var st = stat()
        #expect(fstat(board.fd, &st) == 0)
        #expect(Int(st.st_size) == board.size)
        for slot in 0..<4 {
            for field in LoadBoard.Field.allCases { #expect(board.load(slot, field) == 0) }
        }
        #expect(board.load(header: .magic) == LoadBoard.magic)
        #expect(board.load(header: .capacity) == 4)
    }

    @Test func aSecondMappingSeesTheSameCapacity() throws {
        let (board, mapped, copy) = try Self.boardAndMapping(capacity: 4)
        defer { close(copy); close(board.fd) }
        #expect(mapped.capacity == 4)
        #expect(mapped.fd == copy)
        #expect(mapped.base != board.base)
    }

    @Test func aStoreThroughOneMappingIsVisibleThroughTheOther() throws {
        let (board, mapped, copy) = try Self.boardAndMapping(capacity: 4)
        defer { close(copy); close(board.fd) }
        board.store(2, .active, 17)
        #expect(mapped.load(2, .active) == 17)
        mapped.store(3, .heartbeat, 123_456_789)
        #expect(board.load(3, .heartbeat) == 123_456_789)
        mapped.store(0, .pid, -1)
        #expect(board.load(0, .pid) == -1)
        board.store(2, .active, 16)
        #expect(mapped.load(2, .active) == 16)
    }

    @Test func settingsWrittenByThePrimaryAreReadByAWorker() throws {
        let (board, mapped, copy) = try Self.boardAndMapping()
        defer { close(copy); close(board.fd) }
        board.mode = .reuseport
        board.balance = .ipHash
        #expect(mapped.mode == .reuseport)
        #expect(mapped.balance == .ipHash)
    }

    @Test(arguments: DistributionMode.allCases)
    func modeRoundTrips(_ mode: DistributionMode) throws {
        let board = try LoadBoard(capacity: 1)
        defer { close(board.fd) }
        board.mode = mode
        #expect(board.mode == mode)
        // Setting one header field leaves the other.
        board.balance = .p2c
        #expect(board.mode == mode)
    }

    @Test(arguments: BalancePolicy.allCases)
    func balanceRoundTrips(_ policy: BalancePolicy) throws {
        let board = try LoadBoard(capacity: 1)
        defer { close(board.fd) }
        board.balance = policy
        #expect(board.balance == policy)
        board.mode = .shared
        #expect(board.balance == policy)
    }

    @Test func outOfRangeSettingsAreClamped() throws {
        let board = try LoadBoard(capacity: 1)
        defer { close(board.fd) }
        board.store(header: .mode, 99)
        #expect(board.mode == DistributionMode.allCases.last)
        board.store(header: .mode, -5)
        #expect(board.mode == DistributionMode.allCases.first)
        board.store(header: .balance, Int.max)
        #expect(board.balance == BalancePolicy.allCases.last)
        board.store(header: .balance, Int.min)
        #expect(board.balance == BalancePolicy.allCases.first)
    }

    /// Every field of a worker's line, and of the primary's, fits its 128 bytes.
    @Test func theFieldsFitTheirLines() {
        #expect(LoadBoard.Field.allCases.count * MemoryLayout<Int>.stride <= LoadBoard.lineBytes)
        #expect((LoadBoard.HeaderField.proxyRejects.rawValue + 1) * MemoryLayout<Int>.stride <= LoadBoard.lineBytes)
    }

    @Test func resetClearsEveryFieldButTheSlotsHistory() throws {
        let (board, mapped, copy) = try Self.boardAndMapping(capacity: 4)
        defer { close(copy); close(board.fd) }
        for (k, field) in LoadBoard.Field.allCases.enumerated() {
            board.store(1, field, 1000 + k)
            board.store(2, field, 2000 + k)
        }
        board.reset(1, pid: 4242)
        for field in LoadBoard.Field.allCases {
            let expected: Int
            switch field {
            case .pid: expected = 4242
            case .state: expected = WorkerState.starting.rawValue
            // The slot's history, written by the primary, survives its workers.
            case .restarts, .handoffs, .refusals: expected = 1000 + field.rawValue
            default: expected = 0
            }
            #expect(board.load(1, field) == expected, "\(field)")
            #expect(mapped.load(1, field) == expected, "\(field) through the other mapping")
        }
        // Other slots are untouched.
        for (k, field) in LoadBoard.Field.allCases.enumerated() { #expect(board.load(2, field) == 2000 + k) }
    }

    @Test func fieldsOfDifferentSlotsDoNotOverlap() throws {
        let capacity = 4
        let (board, mapped, copy) = try Self.boardAndMapping(capacity: capacity)
        defer { close(copy); close(board.fd) }
        func value(_ slot: Int, _ field: LoadBoard.Field) -> Int { (slot + 1) * 0x1_0000_0001 &* 977 + field.rawValue * 31 + 5 }
        for slot in 0..<capacity {
            for field in LoadBoard.Field.allCases { board.store(slot, field, value(slot, field)) }
        }
        for slot in 0..<capacity {
            for field in LoadBoard.Field.allCases {
                #expect(board.load(slot, field) == value(slot, field), "slot \(slot) \(field)")
                #expect(mapped.load(slot, field) == value(slot, field), "slot \(slot) \(field), second mapping")
            }
        }
        // The header survives slot writes.
        #expect(mapped.load(header: .magic) == LoadBoard.magic)
        #expect(mapped.load(header: .capacity) == capacity)
    }

    @Test func eachSlotIsItsOwnCacheLine() throws {
        #expect(LoadBoard.Field.allCases.count * MemoryLayout<Int>.stride <= LoadBoard.lineBytes)
        let board = try LoadBoard(capacity: 3)
        defer { close(board.fd) }
        board.store(1, .pid, 0x1111)
        board.store(1, .heartbeat, 0x2222)
        // Slot 1 is line 2; pid is its first word, heartbeat its last used one.
        #expect(board.base.load(fromByteOffset: 2 * LoadBoard.lineBytes, as: Int.self) == 0x1111)
        #expect(board.base.load(fromByteOffset: 2 * LoadBoard.lineBytes + LoadBoard.Field.heartbeat.rawValue * 8, as: Int.self) == 0x2222)
        #expect(board.base.load(fromByteOffset: LoadBoard.lineBytes, as: Int.self) == 0)
        #expect(board.base.load(fromByteOffset: 3 * LoadBoard.lineBytes, as: Int.self) == 0)
    }

    /// Hand-offs through the ring are acknowledged by name: what a worker publishes in its
    /// mapping, the primary reads in its own, once each, in order, across the ring's wrap;
    /// what does not fit waits in the worker, and slots do not mix.
    @Test func acknowledgementsTravelByNameThroughTheBoard() throws {
        let board = try LoadBoard(capacity: 2)
        defer { close(board.fd) }
        let worker = try LoadBoard(mapping: board.fd)
        let cap = LoadBoard.acknowledgementCapacity
        var taken: [UInt32] = []
        var names = (0..<UInt32(cap + 10)).map { $0 }
        worker.publishAcknowledgements(1, &names)
        #expect(names == (UInt32(cap)..<UInt32(cap + 10)).map { $0 }, "a full ring keeps the rest in the worker")
        board.takeAcknowledgements(0) { taken.append($0) }
        #expect(taken.isEmpty, "slot 0 published nothing")
        board.takeAcknowledgements(1) { taken.append($0) }
        #expect(taken == (0..<UInt32(cap)).map { $0 })
        worker.publishAcknowledgements(1, &names)
        #expect(names.isEmpty)
        taken.removeAll()
        board.takeAcknowledgements(1) { taken.append($0) }
        board.takeAcknowledgements(1) { taken.append($0) }
        #expect(taken == (UInt32(cap)..<UInt32(cap + 10)).map { $0 }, "across the wrap, each once")
        board.reset(1, pid: 5)
        taken.removeAll()
        board.takeAcknowledgements(1) { taken.append($0) }
        #expect(taken.isEmpty, "a new worker in the slot starts empty")
    }

    @Test func mappingAFileThatIsNotABoardFails() throws {
        // Large enough for slots, but without the magic number.
        let junk = temporaryFile([UInt8](repeating: 0xAB, count: 4096))
        defer { close(junk) }
        #expect(throws: SystemError.self) { _ = try LoadBoard(mapping: junk) }
    }

    @Test func mappingAZeroFilledFileOfBoardSizeFails() throws {
        let fd = temporaryFile([UInt8](repeating: 0, count: 5 * LoadBoard.lineBytes))
        defer { close(fd) }
        #expect {
            _ = try LoadBoard(mapping: fd)
        } throws: { error in
            (error as? SystemError)?.errno == .invalidArgument
        }
    }

    @Test func mappingAFileTooSmallForOneSlotFails() throws {
        for size in [1, 10, 63, 64, 127] {
            // Even with the magic number in place.
            var bytes = [UInt8](repeating: 0, count: size)
            withUnsafeBytes(of: LoadBoard.magic) { m in
                for k in 0..<min(8, size) { bytes[k] = m[k] }
            }
            let fd = temporaryFile(bytes)
            defer { close(fd) }
            #expect(throws: SystemError.self, "size \(size)") { _ = try LoadBoard(mapping: fd) }
        }
    }

    @Test func mappingAnEmptyFileFails() throws {
        let fd = temporaryFile([])
        defer { close(fd) }
        #expect(throws: SystemError.self) { _ = try LoadBoard(mapping: fd) }
    }

    @Test func theBoardDescriptorIsCloseOnExec() throws {
        let board = try LoadBoard(capacity: 1)
        defer { close(board.fd) }
        #expect(isCloseOnExec(board.fd))
    }

    /// The failure path of `init(mapping:)` unmaps the region, then the deinit of the
    /// half-made object (every stored property is set by then) unmaps the same range again.
    /// If another thread mapped memory at that address in between, its mapping disappears.
    /// Here one thread keeps failing to map a non-board file while a second one maps pages
    /// of the same size and checks each for a while with msync (which fails with ENOMEM on
    /// an unmapped range) without ever touching it. The checker stops at the first page it
    /// lost and never unmaps a page it lost, so the test cannot crash the process.
    @Test
    func aFailedMappingUnmapsOnlyItsOwnMemory() throws {
        let size = 4096
        let junk = temporaryFile([UInt8](repeating: 0xAB, count: size))
        defer { close(junk) }
        /// Written by one thread each, read after both threads finished.
        final class Results: @unchecked Sendable {
            var lost = 0
            var mapped = 0
            var failedMappings = 0
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            if k == 0 {
                for _ in 0..<100_000 {
                    if (try? LoadBoard(mapping: junk)) == nil { results.failedMappings += 1 }
                }
            } else {
                var kept: [UnsafeMutableRawPointer] = []
                for _ in 0..<10_000 {
                    guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else { continue }
                    results.mapped += 1
                    var present = true
                    for _ in 0..<200 where msync(p, size, MS_ASYNC) != 0 { present = false; break }
                    if !present { results.lost += 1; break }
                    kept.append(p)
                }
                for p in kept { munmap(p, size) }
            }
        }
        #expect(results.failedMappings == 100_000)
        #expect(results.mapped > 0)
        #expect(results.lost == 0, "a failed LoadBoard(mapping:) unmapped a page another thread had just mapped")
    }
}
