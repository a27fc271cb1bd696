import Testing
@testable import URing

@Suite("UserData")
struct UserDataTests {
    static let generations: [UInt32] = [0, 1, 2, 0x7F, 0x80, 0xFFFF, 0x1_0000, 0x55_5555, 0xAA_AAAA, 0xFF_FFFE, 0xFF_FFFF]
    static let indices: [UInt32] = [0, 1, 0xFF, 0x100, 0xFFFF, 0x1_0000, 0x5555_5555, 0xAAAA_AAAA, 0x7FFF_FFFF, 0x8000_0000,
                                    UInt32.max - 1, UInt32.max]

    @Test func roundTripsEveryKindWithExtremeGenerationsAndIndices() {
        for kind in UInt8.min...UInt8.max {
            for generation in Self.generations {
                for index in Self.indices {
                    let u = UserData(kind: kind, generation: generation, index: index)
                    if u.kind != kind || u.generation != generation || u.index != index {
                        Issue.record("\(kind)/\(generation)/\(index) came back as \(u)")
                        return
                    }
                    // Through the raw 64-bit value, as a completion returns it.
                    let back = UserData(rawValue: u.rawValue)
                    #expect(back == u)
                }
            }
        }
    }

    @Test func roundTripsPseudoRandomValues() {
        var state: UInt64 = 0x1234_5678_9ABC_DEF0
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let kind = UInt8(truncatingIfNeeded: state >> 56)
            let generation = UInt32(truncatingIfNeeded: state >> 20) & 0xFF_FFFF
            let index = UInt32(truncatingIfNeeded: state &* 0x9E37_79B9_7F4A_7C15 >> 17)
            let u = UserData(kind: kind, generation: generation, index: index)
            #expect(u.kind == kind && u.generation == generation && u.index == index, "\(kind) \(generation) \(index)")
        }
    }

    @Test func layoutIsKindGenerationIndexFromTheTop() {
        #expect(UserData(kind: 0xAB, generation: 0xCD_EF01, index: 0x2345_6789).rawValue == 0xABCD_EF01_2345_6789)
        #expect(UserData(kind: 1).rawValue == 1 << 56)
        #expect(UserData(kind: 0, generation: 1).rawValue == 1 << 32)
        #expect(UserData(kind: 0, index: 1).rawValue == 1)
        #expect(UserData(kind: 0).rawValue == 0)
        #expect(UserData(kind: 0xFF, generation: 0xFF_FFFF, index: .max).rawValue == .max)
        let raw = UserData(rawValue: 0x0102_0304_0506_0708)
        #expect(raw.kind == 0x01)
        #expect(raw.generation == 0x02_0304)
        #expect(raw.index == 0x0506_0708)
    }

    @Test(arguments: [(UInt32(0x100_0000), UInt32(0)), (0x100_0001, 1), (0x1FF_FFFF, 0xFF_FFFF), (0xFFFF_FFFF, 0xFF_FFFF),
                      (0xAB12_3456, 0x12_3456)])
    func generationIsMaskedTo24Bits(_ given: UInt32, _ stored: UInt32) {
        let u = UserData(kind: 7, generation: given, index: 9)
        #expect(u.generation == stored)
        // The excess bits must not leak into the kind.
        #expect(u.kind == 7)
        #expect(u.index == 9)
        #expect(UserData.generationMask == 0xFF_FFFF)
        #expect(UserData.generationBits == 24)
    }

    @Test func fieldsDoNotBleedIntoEachOther() {
        let full = UserData(kind: .max, generation: .max, index: .max)
        #expect(UserData(kind: .max).generation == 0)
        #expect(UserData(kind: .max).index == 0)
        #expect(UserData(kind: 0, generation: .max).kind == 0)
        #expect(UserData(kind: 0, generation: .max).index == 0)
        #expect(UserData(kind: 0, index: .max).kind == 0)
        #expect(UserData(kind: 0, index: .max).generation == 0)
        // Changing one field leaves the other two as they were.
        for kind in [UInt8(0), 1, 0x80, 0xFF] {
            let u = UserData(kind: kind, generation: full.generation, index: full.index)
            #expect(u.generation == 0xFF_FFFF && u.index == .max)
        }
        // A single set bit in each position decodes into exactly one field.
        for bit in 0..<64 {
            let u = UserData(rawValue: 1 << UInt64(bit))
            let nonZero = [u.kind != 0, u.generation != 0, u.index != 0].filter { $0 }.count
            #expect(nonZero == 1, "bit \(bit)")
            if bit < 32 { #expect(u.index == 1 << UInt32(bit)) }
            else if bit < 56 { #expect(u.generation == 1 << UInt32(bit - 32)) }
            else { #expect(u.kind == 1 << UInt8(bit - 56)) }
        }
    }

    @Test func equalityAndHashingFollowTheRawValue() {
        let a = UserData(kind: 3, generation: 4, index: 5)
        let b = UserData(rawValue: a.rawValue)
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != UserData(kind: 3, generation: 5, index: 5))
        #expect(Set([a, b, UserData(kind: 3, generation: 4, index: 6)]).count == 2)
        #expect(a.description == "UserData(kind: 3, generation: 4, index: 5)")
    }
}
